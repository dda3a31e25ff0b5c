# Thin wrapper for the Windows runbook: .\scripts\smoke_checks.ps1 [--control-url URL] [--data-url URL] [--token T] [--home DIR]
# Every argument goes to smoke_checks.py unchanged (its defaults are 127.0.0.1:8787 and :8788), and its
# exit code is passed through: 0 all passed, 1 a check failed, 2 bad usage.
python "$PSScriptRoot\smoke_checks.py" @args
exit $LASTEXITCODE
