// SHA-256 over OpenSSL EVP; every EVP return is checked. Files are hashed in 1 MiB reads.
#include "io/sha256.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "engine/error.h"

namespace vggtl {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  VGGTL_CHECK(ctx_->md != nullptr, "OpenSSL: cannot allocate a digest context");
  VGGTL_CHECK(EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) == 1,
              "OpenSSL: cannot start SHA-256");
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t bytes) {
  VGGTL_CHECK(!done_, "Sha256::update after hex()");
  VGGTL_CHECK(EVP_DigestUpdate(ctx_->md, data, bytes) == 1, "OpenSSL: SHA-256 update failed");
}

std::string Sha256::hex() {
  VGGTL_CHECK(!done_, "Sha256::hex called twice");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  VGGTL_CHECK(EVP_DigestFinal_ex(ctx_->md, digest, &len) == 1 && len == 32,
              "OpenSSL: SHA-256 final failed");
  done_ = true;
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::string sha256_hex(const std::string& bytes) {
  Sha256 h;
  h.update(bytes);
  return h.hex();
}

std::string sha256_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw InputError(path + ": cannot open (" + std::strerror(errno) + ")");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> guard(f, std::fclose);
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (true) {
    size_t n = std::fread(buf.data(), 1, buf.size(), f);
    if (n > 0) h.update(buf.data(), n);
    if (n < buf.size()) {
      if (std::ferror(f)) throw InputError(path + ": read error (" + std::strerror(errno) + ")");
      break;
    }
  }
  return h.hex();
}

}  // namespace vggtl
