# Shared by diagnose.ps1, hub_top.ps1 and smoke_checks.ps1, which dot-source it: finds the Python
# that has the Sheratan ops package (sheratan_ops) installed, so a wrapper never runs whatever a bare
# `python` happens to be (another interpreter, or the Microsoft Store stub, which is no Python).
#
# Candidates, in order:
#   1. the venv beside the repository: <repo>\.venv\Scripts\python.exe
#   2. the Windows launcher: py -3
#   3. every python.exe on PATH
# Each candidate is probed (a one-line Python run): it must be Python 3.11 or later and import
# sheratan_ops (installed with `pip install .`, or the repository root on PYTHONPATH). The Store
# stub under ...\Microsoft\WindowsApps\ fails the probe (it only prints a hint and exits 9009), as
# does a `py` with no Python 3 behind it, so neither is ever used.
# With no usable candidate it says what it found and how to fix it, on stderr, and exits 9009 (the
# code cmd.exe gives a command it cannot find), never 0.

# The probe's exit codes: 0 usable; 3 a Python 3.11+ without sheratan_ops; anything else unusable.
# The current folder ('' on sys.path under -c) is dropped first: the .py wrappers do not run with it
# there. (Single quotes only inside: Windows PowerShell 5.1 mangles double quotes in native arguments.)
$SheratanProbe = 'import sys, importlib.util as u; sys.path[:] = [p for p in sys.path if p]; ' +
    'sys.exit(1 if sys.version_info < (3, 11) else 0 if u.find_spec(''sheratan_ops'') else 3)'
$SheratanNoPython = 9009

function Get-SheratanPythonCandidates {
    param([Parameter(Mandatory = $true)][string]$ScriptsDir)
    $venv = Join-Path (Split-Path -Parent $ScriptsDir) '.venv\Scripts\python.exe'
    if (Test-Path -LiteralPath $venv -PathType Leaf) {
        [pscustomobject]@{ Exe = $venv; Prefix = @(); Shown = $venv }
    }
    $launcher = Get-Command py -CommandType Application -ErrorAction SilentlyContinue |
        Select-Object -First 1
    if ($launcher) {
        [pscustomobject]@{ Exe = $launcher.Source; Prefix = @('-3'); Shown = 'py -3' }
    }
    foreach ($found in @(Get-Command python -CommandType Application -All -ErrorAction SilentlyContinue)) {
        [pscustomobject]@{ Exe = $found.Source; Prefix = @(); Shown = $found.Source }
    }
}

function Find-SheratanPython {
    <# Returns the first usable candidate (.Exe, .Prefix); exits 9009 with a message if none. #>
    param([Parameter(Mandatory = $true)][string]$ScriptsDir)
    $repo = Split-Path -Parent $ScriptsDir
    $withoutPackage = $null
    foreach ($candidate in @(Get-SheratanPythonCandidates -ScriptsDir $ScriptsDir)) {
        $exe = $candidate.Exe
        $prefix = @($candidate.Prefix)
        try {
            & $exe @prefix -c $SheratanProbe *> $null
            $code = $LASTEXITCODE
        }
        catch {
            $code = -1  # it would not even start
        }
        if ($code -eq 0) {
            return $candidate
        }
        if ($code -eq 3 -and $null -eq $withoutPackage) {
            $withoutPackage = $candidate
        }
    }
    if ($null -ne $withoutPackage) {
        $message = "error: $($withoutPackage.Shown) is Python 3.11+, but the Sheratan ops package " +
            "is not installed in it. Install it once: $($withoutPackage.Shown) -m pip install `"$repo`""
    }
    else {
        $message = "error: no Python 3.11+ found. Looked for $repo\.venv\Scripts\python.exe, " +
            "'py -3' (the Windows launcher) and python on PATH (the Microsoft Store stub in " +
            "WindowsApps is not a Python). Install Python 3.11+ from python.org, then, in the " +
            "repository: py -3 -m venv .venv; .venv\Scripts\python.exe -m pip install ."
    }
    [Console]::Error.WriteLine($message)
    exit $SheratanNoPython
}
