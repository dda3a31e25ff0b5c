# Thin wrapper for the Windows runbook: .\scripts\diagnose.ps1 [--out DIR] [--lines N] [--home DIR] [--verify ZIP]
# Every argument goes to diagnose.py unchanged, and its exit code is passed through: 0 a bundle was
# written (or --verify passed), 1 no bundle written, 2 bad usage, 3 a secret was found, 4 tampered bundle.
python "$PSScriptRoot\diagnose.py" @args
exit $LASTEXITCODE
