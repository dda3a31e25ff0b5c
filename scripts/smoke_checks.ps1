# Thin wrapper for the Windows runbook: .\scripts\smoke_checks.ps1 [--control-url URL] [--data-url URL] [--token T] [--home DIR]
# Every argument goes to smoke_checks.py unchanged (its default URLs come from HUB_HOST, HUB_CONTROL_PORT
# and HUB_DATA_PORT, else 127.0.0.1:8787 and :8788), and its
# exit code is passed through: 0 all passed, 1 a check failed, 2 bad usage.
# The interpreter: the first of the repository's .venv, `py -3` and python on PATH that has the
# package installed (find_python.ps1); with none it says so and exits 9009.
$forward = $args  # this script's own arguments, kept before dot-sourcing the helper
. (Join-Path $PSScriptRoot 'find_python.ps1')
$python = Find-SheratanPython -ScriptsDir $PSScriptRoot
$exe = $python.Exe
$prefix = @($python.Prefix)
$global:LASTEXITCODE = 1  # should Python fail to start at all: 1, never a stale 0
& $exe @prefix (Join-Path $PSScriptRoot 'smoke_checks.py') @forward
exit $LASTEXITCODE
