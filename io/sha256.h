// File and data digests through OpenSSL's EVP interface, as lowercase hex: SHA-256 for
// --weights-sha256, the record of the base weights in a checkpoint and data fingerprints; MD5
// only to compare with the hashes Keras publishes for its downloads. Tested by
// tests/io/test_sha256.cpp.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace vggtl {

enum class DigestKind { Sha256, Md5 };

// Incremental hashing: update() any number of times, then hex() once.
class Digest {
 public:
  explicit Digest(DigestKind kind = DigestKind::Sha256);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void update(const void* data, size_t bytes);
  void update(const std::string& s) { update(s.data(), s.size()); }
  std::string hex();  // finishes the hash: 64 (SHA-256) or 32 (MD5) lowercase hex digits

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  bool done_ = false;
};

std::string sha256_hex(const std::string& bytes);
// InputError naming the file when it cannot be opened or read.
std::string sha256_file(const std::string& path);
std::string md5_file(const std::string& path);

}  // namespace vggtl
