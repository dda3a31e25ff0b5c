# Thin wrapper for the Windows runbook: .\scripts\hub_top.ps1 [--control-url URL] [--data-url URL] [--home DIR] [--interval-s S] [--alerts N] [--once] [--token-file PATH]
# Every argument goes to hub_top.py unchanged (its defaults come from HUB_HOST, HUB_CONTROL_PORT,
# HUB_DATA_PORT and SHERATAN_HOME), and its exit code is passed through: 0 a frame was drawn or
# Ctrl+C quit the live view, 2 bad usage (or a --token-file that cannot be read).
python "$PSScriptRoot\hub_top.py" @args
exit $LASTEXITCODE
