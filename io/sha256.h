// SHA-256 through OpenSSL's EVP interface, as lowercase hex: for --weights-sha256, the record
// of the base weights in a checkpoint and data fingerprints. Tested by tests/io/test_sha256.cpp.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace vggtl {

// Incremental hashing: update() any number of times, then hex() once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t bytes);
  void update(const std::string& s) { update(s.data(), s.size()); }
  std::string hex();  // finishes the hash: 64 lowercase hex digits

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  bool done_ = false;
};

std::string sha256_hex(const std::string& bytes);
// InputError naming the file when it cannot be opened or read.
std::string sha256_file(const std::string& path);

}  // namespace vggtl
