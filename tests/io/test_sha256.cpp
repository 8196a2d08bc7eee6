// SHA-256 against the FIPS 180-2 test vectors, MD5 against RFC 1321, incremental hashing, and
// files larger than the 1 MiB read buffer.
#include <gtest/gtest.h>

#include <fstream>

#include "engine/error.h"
#include "io/sha256.h"
#include "test_util.h"

using namespace vggtl;

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  Digest h;
  h.update("ab");
  h.update("", 0);
  h.update("c");
  EXPECT_EQ(h.hex(), sha256_hex("abc"));
  EXPECT_THROW(h.update("more"), Error);
}

TEST(Sha256, FileOfAMillionAs) {
  std::string path = test::temp_dir("sha") + "/a.bin";
  std::ofstream(path, std::ios::binary) << std::string(1000000, 'a');
  EXPECT_EQ(sha256_file(path), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  std::string big = test::temp_dir("sha") + "/big.bin";
  std::string content(3 * (1 << 20) + 17, 'x');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 31 % 251);
  std::ofstream(big, std::ios::binary) << content;
  EXPECT_EQ(sha256_file(big), sha256_hex(content));
}

TEST(Sha256, Md5ForKerasPublishedHashes) {
  std::string path = test::temp_dir("sha") + "/abc.txt";
  std::ofstream(path, std::ios::binary) << "abc";
  EXPECT_EQ(md5_file(path), "900150983cd24fb0d6963f7d28e17f72");  // RFC 1321
  Digest d(DigestKind::Md5);
  EXPECT_EQ(d.hex(), "d41d8cd98f00b204e9800998ecf8427e");
}

TEST(Sha256, MissingFileIsAnInputError) {
  std::string path = test::temp_dir("sha") + "/none.bin";
  try {
    sha256_file(path);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path + ": cannot open", 0), 0u) << e.what();
  }
}
