{
  "targets": [
    {
      "target_name": "pgwarden_watchdog",
      "sources": ["watchdog.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
