# Thin wrapper for the Windows runbook: .\scripts\diagnose.ps1 [--out DIR] [--lines N] [--home DIR] [--allow-empty] [--token-file PATH] [--verify ZIP]
# Every argument goes to diagnose.py unchanged, and its exit code is passed through: 0 a bundle was
# written (or --verify passed), 1 no bundle written, 2 bad usage or a missing or empty home (without
# --allow-empty), 3 a secret was found, 4 tampered bundle,
# 5 the hub token is neither known nor findable (set HUB_TOKEN, pass --token-file PATH, or start the
# v1.5 hub once so it writes state\hub_token.fingerprint.json); no bundle was written.
# The interpreter: the first of the repository's .venv, `py -3` and python on PATH that has the
# package installed (find_python.ps1); with none it says so and exits 9009.
$forward = $args  # this script's own arguments, kept before dot-sourcing the helper
. (Join-Path $PSScriptRoot 'find_python.ps1')
$python = Find-SheratanPython -ScriptsDir $PSScriptRoot
$exe = $python.Exe
$prefix = @($python.Prefix)
$global:LASTEXITCODE = 1  # should Python fail to start at all: 1, never a stale 0
& $exe @prefix (Join-Path $PSScriptRoot 'diagnose.py') @forward
exit $LASTEXITCODE
