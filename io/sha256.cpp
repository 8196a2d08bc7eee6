// Digests over OpenSSL EVP; every EVP return is checked. Files are hashed in 1 MiB reads.
#include "io/sha256.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "engine/error.h"

namespace vggtl {

struct Digest::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Digest::Digest(DigestKind kind) : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  VGGTL_CHECK(ctx_->md != nullptr, "OpenSSL: cannot allocate a digest context");
  const EVP_MD* md = kind == DigestKind::Md5 ? EVP_md5() : EVP_sha256();
  VGGTL_CHECK(md != nullptr && EVP_DigestInit_ex(ctx_->md, md, nullptr) == 1,
              "OpenSSL: cannot start the digest");
}

Digest::~Digest() = default;

void Digest::update(const void* data, size_t bytes) {
  VGGTL_CHECK(!done_, "Digest::update after hex()");
  VGGTL_CHECK(EVP_DigestUpdate(ctx_->md, data, bytes) == 1, "OpenSSL: digest update failed");
}

std::string Digest::hex() {
  VGGTL_CHECK(!done_, "Digest::hex called twice");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  VGGTL_CHECK(EVP_DigestFinal_ex(ctx_->md, digest, &len) == 1, "OpenSSL: digest final failed");
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
  Digest h;
  h.update(bytes);
  return h.hex();
}

namespace {

std::string digest_file(const std::string& path, DigestKind kind) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw InputError(path + ": cannot open (" + std::strerror(errno) + ")");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> guard(f, std::fclose);
  Digest h(kind);
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

}  // namespace

std::string sha256_file(const std::string& path) { return digest_file(path, DigestKind::Sha256); }
std::string md5_file(const std::string& path) { return digest_file(path, DigestKind::Md5); }

}  // namespace vggtl
