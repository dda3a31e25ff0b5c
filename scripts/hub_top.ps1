# Thin wrapper for the Windows runbook: .\scripts\hub_top.ps1 [--control-url URL] [--data-url URL] [--home DIR] [--interval-s S] [--alerts N] [--once] [--token-file PATH] [--rules FILE]
# Every argument goes to hub_top.py unchanged (its defaults come from HUB_HOST, HUB_CONTROL_PORT,
# HUB_DATA_PORT and SHERATAN_HOME), and its exit code is passed through: 0 a frame was drawn or
# Ctrl+C quit the live view, 2 bad usage (a --token-file that cannot be read, a bad --rules file, or a home
# that does not exist or has no logs folder).
# The interpreter: the first of the repository's .venv, `py -3` and python on PATH that has the
# package installed (find_python.ps1); with none it says so and exits 9009.
$forward = $args  # this script's own arguments, kept before dot-sourcing the helper
. (Join-Path $PSScriptRoot 'find_python.ps1')
$python = Find-SheratanPython -ScriptsDir $PSScriptRoot
$exe = $python.Exe
$prefix = @($python.Prefix)
$global:LASTEXITCODE = 1  # should Python fail to start at all: 1, never a stale 0
& $exe @prefix (Join-Path $PSScriptRoot 'hub_top.py') @forward
exit $LASTEXITCODE
