"""How latentkit's browser tests and benchmarks start Chromium: Debian's binary, headless, offline.

The flags stop Chromium's own outside lookups (updates, sync, DNS) so only 127.0.0.1 is reached;
nothing ever downloads a browser.
"""

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
