{
  "targets": [
    {
      "target_name": "attested_pack_vsock",
      "sources": ["vsock.c", "aes_gcm.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2", "-fvisibility=hidden"],
      "cflags_c": ["-std=gnu11"]
    }
  ]
}
