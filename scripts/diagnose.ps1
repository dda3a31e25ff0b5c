# Thin wrapper for the Windows runbook: .\scripts\diagnose.ps1 [--out DIR] [--lines N] [--home DIR] [--token-file PATH] [--verify ZIP]
# Every argument goes to diagnose.py unchanged, and its exit code is passed through: 0 a bundle was
# written (or --verify passed), 1 no bundle written, 2 bad usage, 3 a secret was found, 4 tampered bundle,
# 5 the hub token is neither known nor findable (set HUB_TOKEN, pass --token-file PATH, or start the
# v1.5 hub once so it writes state\hub_token.fingerprint.json); no bundle was written.
python "$PSScriptRoot\diagnose.py" @args
exit $LASTEXITCODE
