/*
 * attested-pack addon, part 2: AES-256-GCM decryption of many small values in one call.
 *
 * A SOPS file holds one AES-256-GCM ciphertext per value. node:crypto opens each one through a
 * Decipheriv object (construction, setAAD, setAuthTag, update, final: five crossings of the
 * JavaScript/C++ boundary and a few allocations per value), which costs ~2.5 us for a 24-byte
 * value whose AES-GCM work is ~0.1 us. This function runs the same OpenSSL EVP calls node:crypto
 * makes (EVP_aes_256_gcm: AES-NI/VAES and carry-less multiplication where the CPU has them,
 * constant-time otherwise), with one cipher context and one key schedule for a whole file.
 *
 * No OpenSSL header or library is linked: the functions are looked up once, at load, in the
 * running process (official Node builds export OpenSSL's symbols for addons). Where they are
 * missing the function is simply not exported and attested-pack keeps using node:crypto.
 *
 * aesGcmOpenBatch(key, src, layout, aad, dst, ivLength) -> number
 *   key     Uint8Array(32)   the data key
 *   src     Uint8Array       ciphertexts, IVs and tags, anywhere in it
 *   layout  Uint32Array      7 entries per value: dataOffset, dataLength, ivOffset, tagOffset,
 *                            aadOffset, aadLength, dstOffset (offsets into src, src, src, aad, dst)
 *   aad     Uint8Array       the additional authenticated data of every value
 *   dst     Uint8Array       where the plaintexts go
 *   ivLength                 the IV length of every value (1..64); tags are 16 bytes
 * Returns -1 when every value authenticated, else the index of the first that did not; then (and
 * on any error) the whole of dst is zeroed, so no unauthenticated plaintext is left behind.
 * Every offset and length is checked against its buffer before anything is decrypted; a bad
 * layout throws a RangeError (code AES_GCM_ARGS) and touches nothing.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

/* The few OpenSSL EVP functions used (the same ones in OpenSSL 1.1 and 3), as opaque pointers. */
typedef struct ap_evp_cipher_ctx AP_EVP_CIPHER_CTX;
typedef struct ap_evp_cipher AP_EVP_CIPHER;

static struct {
  AP_EVP_CIPHER_CTX *(*ctx_new)(void);
  void (*ctx_free)(AP_EVP_CIPHER_CTX *);
  const AP_EVP_CIPHER *(*aes_256_gcm)(void);
  int (*decrypt_init)(AP_EVP_CIPHER_CTX *, const AP_EVP_CIPHER *, void *, const unsigned char *, const unsigned char *);
  int (*decrypt_update)(AP_EVP_CIPHER_CTX *, unsigned char *, int *, const unsigned char *, int);
  int (*decrypt_final)(AP_EVP_CIPHER_CTX *, unsigned char *, int *);
  int (*ctrl)(AP_EVP_CIPHER_CTX *, int, int, void *);
} evp;

/* EVP_CTRL_AEAD_SET_IVLEN and EVP_CTRL_AEAD_SET_TAG (openssl/evp.h; unchanged since 1.1.0). */
#define AP_EVP_CTRL_AEAD_SET_IVLEN 0x9
#define AP_EVP_CTRL_AEAD_SET_TAG 0x11
#define AP_KEY_LENGTH 32
#define AP_TAG_LENGTH 16
#define AP_IV_MAX 64
#define AP_LAYOUT_STRIDE 7

/*
 * All seven must come from the one object that exports EVP_CIPHER_CTX_new (the node executable,
 * or the libcrypto it links), never a mix: a context made by one OpenSSL must not reach another's
 * code. Where they do not, the function is not offered.
 */
static int resolve_evp(void) {
  void **slots[] = {(void **)&evp.ctx_new,      (void **)&evp.ctx_free,       (void **)&evp.aes_256_gcm,
                    (void **)&evp.decrypt_init, (void **)&evp.decrypt_update, (void **)&evp.decrypt_final,
                    (void **)&evp.ctrl};
  const char *names[] = {"EVP_CIPHER_CTX_new", "EVP_CIPHER_CTX_free", "EVP_aes_256_gcm", "EVP_DecryptInit_ex",
                         "EVP_DecryptUpdate",  "EVP_DecryptFinal_ex", "EVP_CIPHER_CTX_ctrl"};
  void *object = NULL;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    Dl_info at;
    void *f = dlsym(RTLD_DEFAULT, names[i]);
    if (f == NULL || dladdr(f, &at) == 0) return 0;
    if (i == 0) object = at.dli_fbase;
    else if (at.dli_fbase != object) return 0;
    *slots[i] = f;
  }
  return 1;
}

static void wipe(void *p, size_t n) {
  if (n > 0) explicit_bzero(p, n);
}

static napi_value throw_args(napi_env env, const char *message) {
  napi_throw_range_error(env, "AES_GCM_ARGS", message);
  return NULL;
}

static int typed_array(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length) {
  bool is_typed;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed) return 0;
  if (napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) != napi_ok || type != want) return 0;
  return 1;
}

/* True when [offset, offset + length) lies inside a buffer of `size` bytes. */
static int inside(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}

/* True when every range of one layout entry lies inside its buffer and fits an int. */
static int entry_inside(const uint32_t *op, size_t src_len, size_t aad_len, size_t dst_len, uint32_t iv_len) {
  return inside(op[0], op[1], src_len) && inside(op[2], iv_len, src_len) && inside(op[3], AP_TAG_LENGTH, src_len) &&
         inside(op[4], op[5], aad_len) && inside(op[6], op[1], dst_len) && op[1] <= INT32_MAX && op[5] <= INT32_MAX;
}

static napi_value js_aes_gcm_open_batch(napi_env env, napi_callback_info info) {
  napi_value argv[6], result;
  size_t argc = 6;
  void *key, *src, *layout_raw, *aad, *dst;
  size_t key_len, src_len, layout_len, aad_len, dst_len;
  uint32_t iv_len;
  int64_t failed = -1;

  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6) return throw_args(env, "aesGcmOpenBatch needs 6 arguments");
  if (!typed_array(env, argv[0], napi_uint8_array, &key, &key_len) || key_len != AP_KEY_LENGTH)
    return throw_args(env, "key must be a 32-byte Uint8Array");
  if (!typed_array(env, argv[1], napi_uint8_array, &src, &src_len)) return throw_args(env, "src must be a Uint8Array");
  if (!typed_array(env, argv[2], napi_uint32_array, &layout_raw, &layout_len) || layout_len % AP_LAYOUT_STRIDE != 0)
    return throw_args(env, "layout must be a Uint32Array of 7 entries per value");
  if (!typed_array(env, argv[3], napi_uint8_array, &aad, &aad_len)) return throw_args(env, "aad must be a Uint8Array");
  if (!typed_array(env, argv[4], napi_uint8_array, &dst, &dst_len)) return throw_args(env, "dst must be a Uint8Array");
  if (napi_get_value_uint32(env, argv[5], &iv_len) != napi_ok || iv_len == 0 || iv_len > AP_IV_MAX)
    return throw_args(env, "ivLength must be 1..64");

  const uint32_t *layout = (const uint32_t *)layout_raw;
  const size_t count = layout_len / AP_LAYOUT_STRIDE;
  /* Every range first: nothing is decrypted unless the whole layout is sound. */
  for (size_t i = 0; i < count; i++) {
    if (!entry_inside(layout + i * AP_LAYOUT_STRIDE, src_len, aad_len, dst_len, iv_len))
      return throw_args(env, "a layout entry points outside its buffer");
  }

  AP_EVP_CIPHER_CTX *ctx = evp.ctx_new();
  if (ctx == NULL) {
    napi_throw_error(env, "AES_GCM_INTERNAL", "EVP_CIPHER_CTX_new failed");
    return NULL;
  }
  int ok = evp.decrypt_init(ctx, evp.aes_256_gcm(), NULL, NULL, NULL) == 1 &&
           evp.ctrl(ctx, AP_EVP_CTRL_AEAD_SET_IVLEN, (int)iv_len, NULL) == 1 &&
           evp.decrypt_init(ctx, NULL, NULL, (const unsigned char *)key, NULL) == 1;
  int moved = 0;
  for (size_t i = 0; ok && i < count; i++) {
    /* A private copy, checked again: the checks above must hold for the values used here even if
       the caller's array were shared with another thread and changed in between. */
    uint32_t op[AP_LAYOUT_STRIDE];
    memcpy(op, layout + i * AP_LAYOUT_STRIDE, sizeof op);
    if (!entry_inside(op, src_len, aad_len, dst_len, iv_len)) {
      moved = 1;
      break;
    }
    unsigned char *out = (unsigned char *)dst + op[6];
    int n = 0, tail = 0;
    /* A new IV with the key already set: GCM starts afresh (counter, GHASH, AAD, tag). */
    if (evp.decrypt_init(ctx, NULL, NULL, NULL, (const unsigned char *)src + op[2]) != 1 ||
        (op[5] > 0 && evp.decrypt_update(ctx, NULL, &n, (const unsigned char *)aad + op[4], (int)op[5]) != 1) ||
        (op[1] > 0 && evp.decrypt_update(ctx, out, &n, (const unsigned char *)src + op[0], (int)op[1]) != 1) ||
        evp.ctrl(ctx, AP_EVP_CTRL_AEAD_SET_TAG, AP_TAG_LENGTH, (unsigned char *)src + op[3]) != 1) {
      ok = 0;
      break;
    }
    if (op[1] == 0) n = 0;
    if (evp.decrypt_final(ctx, out + n, &tail) != 1 || (uint64_t)n + (uint64_t)tail != op[1]) {
      failed = (int64_t)i;
      break;
    }
  }
  evp.ctx_free(ctx); /* frees and cleanses the key schedule */
  if (!ok || moved || failed >= 0) wipe(dst, dst_len);
  if (moved) return throw_args(env, "the layout changed while it was being used");
  if (!ok) {
    napi_throw_error(env, "AES_GCM_INTERNAL", "an OpenSSL EVP call failed");
    return NULL;
  }
  if (napi_create_int64(env, failed, &result) != napi_ok) return NULL;
  return result;
}

/* Adds aesGcmOpenBatch to the exports when this process has OpenSSL's EVP functions. */
int ap_register_aes_gcm(napi_env env, napi_value exports) {
  napi_value fn;
  if (!resolve_evp()) return 1;
  if (napi_create_function(env, "aesGcmOpenBatch", NAPI_AUTO_LENGTH, js_aes_gcm_open_batch, NULL, &fn) != napi_ok) return 0;
  return napi_set_named_property(env, exports, "aesGcmOpenBatch", fn) == napi_ok;
}
