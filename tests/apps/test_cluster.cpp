// The parts of the scale-out that need no second process: shard ranges over every small case,
// the listing as sent from rank 0 and its hash, shard file names and checks, and the
// one-process twin of the collectives. Runs with or without MPI in the build.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "apps/pipeline/cluster.h"
#include "apps/pipeline/shards.h"
#include "engine/error.h"
#include "io/hdf5/features_file.h"
#include "test_util.h"

namespace vggtl {

namespace fs = std::filesystem;

TEST(ShardRange, CoversTheListingInOrderWithoutPaddingOrOverlap) {
  for (int64_t items = 0; items <= 40; ++items)
    for (int shards = 1; shards <= 9; ++shards) {
      int64_t next = 0, smallest = items, largest = 0;
      for (int k = 0; k < shards; ++k) {
        const ShardRange r = shard_range(items, k, shards);
        EXPECT_EQ(r.begin, next) << items << " items, shard " << k << " of " << shards;
        EXPECT_TRUE(r.begin <= r.end && r.end <= items) << "[" << r.begin << ", " << r.end << ") of " << items;
        smallest = std::min(smallest, r.size());
        largest = std::max(largest, r.size());
        next = r.end;
      }
      EXPECT_EQ(next, items) << items << " items, " << shards << " shards";
      EXPECT_LE(largest - smallest, 1) << "unbalanced: " << items << " items, " << shards << " shards";
    }
  EXPECT_EQ(shard_range(2, 0, 4).size(), 0);  // more shards than items: some are empty
  EXPECT_EQ(shard_range(2, 1, 4).size(), 1);
  EXPECT_EQ(shard_range(int64_t{1} << 60, 7, 8).end, int64_t{1} << 60);  // no overflow
  EXPECT_THROW(shard_range(5, 3, 3), Error);
  EXPECT_THROW(shard_range(5, -1, 3), Error);
  EXPECT_THROW(shard_range(5, 0, 0), Error);
}

// Aligned to a batch size, shards start on batch boundaries (so each shard's batches are one
// process's), still cover everything in order, and differ by at most one unit.
TEST(ShardRange, AlignedShardsStartOnUnitBoundaries) {
  for (int64_t align : {1, 3, 7, 30})
    for (int64_t items = 0; items <= 100; items += 7)
      for (int shards = 1; shards <= 5; ++shards) {
        int64_t next = 0, smallest = items, largest = 0;
        for (int k = 0; k < shards; ++k) {
          const ShardRange r = shard_range(items, k, shards, align);
          EXPECT_EQ(r.begin, next) << items << " items, shard " << k << " of " << shards << ", unit " << align;
          EXPECT_TRUE(r.begin % align == 0 || r.begin == items) << r.begin << " not on a unit of " << align;
          EXPECT_TRUE(r.begin <= r.end && r.end <= items) << "[" << r.begin << ", " << r.end << ") of " << items;
          smallest = std::min(smallest, r.size());
          largest = std::max(largest, r.size());
          next = r.end;
        }
        EXPECT_EQ(next, items);
        EXPECT_LE(largest - smallest, align) << items << " items, " << shards << " shards, unit " << align;
      }
  EXPECT_EQ(shard_range(61, 0, 2, 30).size(), 30);  // 3 units (the last of 1 item): 1 + 2
  EXPECT_EQ(shard_range(61, 1, 2, 30).size(), 31);
  EXPECT_THROW(shard_range(5, 0, 1, 0), Error);
}

SplitListing small_listing() {
  SplitListing s;
  s.root = "/data/train";
  s.classes = {"cat", "dog"};
  s.warnings = {"skipped .hidden"};
  s.items = {DataItem{"/data/train/cat/1.jpg", "cat/1.jpg", 0, 100},
             DataItem{"/data/train/dog/é.png", "dog/é.png", 1, 2000}};
  return s;
}

TEST(ShardListing, TravelsWholeAndItsHashFollowsWhatItSays) {
  const SplitListing s = small_listing();
  const SplitListing back = listing_from_bytes(listing_to_bytes(s));
  EXPECT_EQ(back.root, s.root);
  EXPECT_EQ(back.classes, s.classes);
  EXPECT_EQ(back.warnings, s.warnings);
  ASSERT_EQ(back.items.size(), 2u);
  EXPECT_EQ(back.items[1].path, s.items[1].path);
  EXPECT_EQ(back.items[1].relpath, s.items[1].relpath);
  EXPECT_EQ(back.items[1].label, 1);
  EXPECT_EQ(back.items[1].bytes, 2000u);

  const std::string h = listing_sha256(s);
  EXPECT_EQ(h.size(), 64u);
  SplitListing moved = s;  // the same data elsewhere: the same listing
  moved.root = "/elsewhere";
  for (DataItem& it : moved.items) it.path = "/elsewhere/" + it.relpath;
  EXPECT_EQ(listing_sha256(moved), h);
  std::vector<std::function<void(SplitListing&)>> changes = {
      [](SplitListing& l) { l.items[0].relpath = "cat/2.jpg"; },
      [](SplitListing& l) { l.items[0].bytes = 101; },
      [](SplitListing& l) { l.items[0].label = 1; },
      [](SplitListing& l) { l.classes[1] = "wolf"; },
      [](SplitListing& l) { l.items.pop_back(); }};
  for (size_t i = 0; i < changes.size(); ++i) {
    SplitListing c = s;
    changes[i](c);
    EXPECT_NE(listing_sha256(c), h) << "change " << i;
  }
}

TEST(ShardFiles, NamesAndChecks) {
  EXPECT_EQ(shard_path("out/features.h5", 2, 4), "out/features.shard-2-of-4.h5");
  EXPECT_EQ(shard_path("features", 0, 1), "features.shard-0-of-1.h5");

  const std::string dir = test::temp_dir("shard_files");
  const std::string f = dir + "/x.shard-1-of-3.h5";
  EXPECT_EQ(shard_problem(f, "h", 1, 3, 2, {}), "missing");
  FeaturesHeader h;
  h.feature_shape = Shape{1, 1, 4};
  h.class_names = {"a", "b"};
  h.attributes = {{"list_sha256", "h"}, {"shard", "1"}, {"shards", "3"}, {"shard_items", "3"},
                  {"image_size", "32"}, {"weights_sha256", "none"}};
  {
    FeaturesWriter w(f, h);
    w.append(Tensor::zeros({2, 1, 1, 4}, DType::F32), {0, 1}, {"a/1.png", "b/2.png"});
    w.set_attribute("shard_skipped", "1");  // 2 rows + 1 skipped = 3 images
    w.commit();
  }
  const auto settings = feature_settings(h.attributes);
  EXPECT_EQ(shard_problem(f, "h", 1, 3, 3, settings), "");
  EXPECT_EQ(shard_problem(f, "h", 1, 3, 3, {}), "");
  EXPECT_NE(shard_problem(f, "other", 1, 3, 3, settings).find("stale"), std::string::npos);
  EXPECT_NE(shard_problem(f, "h", 2, 3, 3, settings).find("not shard 2 of 3"), std::string::npos);
  EXPECT_NE(shard_problem(f, "h", 1, 4, 3, settings).find("not shard"), std::string::npos);
  EXPECT_NE(shard_problem(f, "h", 1, 3, 4, settings).find("incomplete"), std::string::npos);
  auto other = settings;
  other["image_size"] = "64";
  EXPECT_NE(shard_problem(f, "h", 1, 3, 3, other).find("stale"), std::string::npos);
  std::filesystem::resize_file(f, 100);
  EXPECT_NE(shard_problem(f, "h", 1, 3, 3, settings).find("unreadable"), std::string::npos);
}

TEST(Cluster, OneProcessTwin) {
  // Test binaries are never started by mpiexec: the one-process behaviour, with or without MPI.
  ASSERT_FALSE(cluster::launched_by_mpi()) << "run this test without mpiexec";
  EXPECT_FALSE(cluster::active());
  EXPECT_EQ(cluster::rank(), 0);
  EXPECT_EQ(cluster::size(), 1);
  EXPECT_TRUE(cluster::is_root());
  EXPECT_EQ(cluster::rank_label(), "");
  std::string b = "abc";
  cluster::broadcast(&b);
  EXPECT_EQ(b, "abc");
  EXPECT_EQ(cluster::gather("xyz"), std::vector<std::string>{"xyz"});
  double d[2] = {1.5, -2};
  cluster::allreduce_sum(d, 2);
  EXPECT_EQ(d[0], 1.5);
  EXPECT_EQ(d[1], -2);
  cluster::barrier();
  EXPECT_THROW(list_split_on_root(test::temp_dir("cluster_twin_missing") + "/nothing"), InputError);
}

}  // namespace vggtl
