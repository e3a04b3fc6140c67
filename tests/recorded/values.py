"""The fixed, fake secret values the recorded tests use: the secret scan looks for each of them."""

JOB_SECRET = "job-secret-7Qx2LmVp9sKd3WnZ"
WRONG_TOKEN = "not-the-emulators-bearer-token"
WRONG_STORAGE_KEY = "bm90IHRoZSBzdG9yYWdlIGFjY291bnQncyBrZXkgYXQgYWxs"  # base64 of a phrase, 35 bytes
