#include "plan/chunk_plan.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace mpsbatch {

// Every row belongs to exactly one chunk, every chunk to exactly one rank,
// ranks own contiguous runs in rank order that differ by at most one chunk.
TEST(ChunkPlan, CoversEveryRowOnceForAllSmallShapes) {
  for (int64_t rows = 1; rows <= 40; ++rows) {
    for (int64_t chunk_rows = 1; chunk_rows <= 12; ++chunk_rows) {
      for (int ranks = 1; ranks <= 6; ++ranks) {
        SCOPED_TRACE(testing::Message() << rows << " rows, " << chunk_rows << " per chunk, " << ranks << " ranks");
        ChunkPlan plan(rows, chunk_rows, ranks);
        std::vector<int> seen(static_cast<size_t>(rows), 0);
        int64_t next_chunk = 0, min_run = INT64_MAX, max_run = 0;
        for (int r = 0; r < ranks; ++r) {
          auto [first, last] = plan.RangeOf(r);
          ASSERT_EQ(first, next_chunk);
          next_chunk = last;
          min_run = std::min(min_run, last - first);
          max_run = std::max(max_run, last - first);
          for (int64_t id = first; id < last; ++id) {
            Chunk c = plan.chunk(id);
            EXPECT_EQ(c.id, id);
            EXPECT_GE(c.rows(), 1);
            EXPECT_LE(c.rows(), chunk_rows);
            for (int64_t row = c.begin; row < c.end; ++row) ++seen[static_cast<size_t>(row)];
          }
        }
        EXPECT_EQ(next_chunk, plan.num_chunks());
        EXPECT_LE(max_run - min_run, 1);
        for (int count : seen) ASSERT_EQ(count, 1);
      }
    }
  }
}

TEST(ChunkPlan, MoreRanksThanChunksLeavesSomeIdle) {
  ChunkPlan plan(3, 1, 5);
  EXPECT_EQ(plan.num_chunks(), 3);
  int idle = 0;
  for (int r = 0; r < 5; ++r) idle += plan.RangeOf(r).first == plan.RangeOf(r).second;
  EXPECT_EQ(idle, 2);
}

// Static: each rank drains its own run in order, then gets nothing.
TEST(ChunkDispenser, StaticHandsEachRankItsOwnRun) {
  ChunkPlan plan(10, 1, 3);  // runs [0,3) [3,6) [6,10)
  ChunkDispenser d(plan, /*dynamic=*/false);
  EXPECT_EQ(d.Next(2), 6);
  EXPECT_EQ(d.Next(0), 0);
  EXPECT_EQ(d.Next(2), 7);
  for (int64_t id : {1, 2}) EXPECT_EQ(d.Next(0), id);
  EXPECT_EQ(d.Next(0), std::nullopt);
  for (int64_t id : {3, 4, 5}) EXPECT_EQ(d.Next(1), id);
  EXPECT_EQ(d.Next(1), std::nullopt);
  for (int64_t id : {8, 9}) EXPECT_EQ(d.Next(2), id);
  EXPECT_EQ(d.Next(2), std::nullopt);
}

// Dynamic: whoever asks gets the lowest id not yet given; every id once.
TEST(ChunkDispenser, DynamicGivesTheLowestFreeIdToWhoeverAsks) {
  ChunkPlan plan(5, 1, 3);
  ChunkDispenser d(plan, /*dynamic=*/true);
  EXPECT_EQ(d.Next(2), 0);
  EXPECT_EQ(d.Next(2), 1);
  EXPECT_EQ(d.Next(0), 2);
  EXPECT_EQ(d.Next(1), 3);
  EXPECT_EQ(d.Next(2), 4);
  for (int r = 0; r < 3; ++r) EXPECT_EQ(d.Next(r), std::nullopt);
}

// Chunks an earlier run finished are never handed out again, in either schedule.
TEST(ChunkDispenser, SkipsDoneChunks) {
  ChunkPlan plan(6, 1, 2);  // static runs [0,3) [3,6)
  const std::vector<bool> done{true, false, true, true, false, false};
  ChunkDispenser dynamic(plan, true, done);
  for (int64_t id : {1, 4, 5}) EXPECT_EQ(dynamic.Next(0), id);
  EXPECT_EQ(dynamic.Next(1), std::nullopt);
  ChunkDispenser fixed(plan, false, done);
  EXPECT_EQ(fixed.Next(0), 1);
  EXPECT_EQ(fixed.Next(0), std::nullopt);
  EXPECT_EQ(fixed.Next(1), 4);
  EXPECT_EQ(fixed.Next(1), 5);
  EXPECT_EQ(fixed.Next(1), std::nullopt);
}

// Ranks that do not compute (plan/gpu_sharing.h) get nothing; the others
// get every chunk once, static runs cut over them alone.
TEST(ChunkDispenser, RanksThatDoNotComputeGetNoChunk) {
  ChunkPlan plan(10, 1, 4);
  const std::vector<bool> computes{true, false, true, false};
  ChunkDispenser dynamic(plan, true, {}, computes);
  EXPECT_EQ(dynamic.Next(1), std::nullopt);
  EXPECT_EQ(dynamic.Next(3), std::nullopt);
  for (int64_t id = 0; id < 10; ++id) EXPECT_EQ(dynamic.Next(id % 2 == 0 ? 0 : 2), id);
  EXPECT_EQ(dynamic.Next(0), std::nullopt);
  ChunkDispenser fixed(plan, false, {}, computes);  // runs [0,5) for rank 0, [5,10) for rank 2
  for (int64_t id = 0; id < 5; ++id) EXPECT_EQ(fixed.Next(0), id);
  EXPECT_EQ(fixed.Next(0), std::nullopt);
  EXPECT_EQ(fixed.Next(1), std::nullopt);
  for (int64_t id = 5; id < 10; ++id) EXPECT_EQ(fixed.Next(2), id);
  EXPECT_EQ(fixed.Next(2), std::nullopt);
  EXPECT_EQ(fixed.Next(3), std::nullopt);
}

TEST(ChunkPlan, LastChunkIsShort) {
  ChunkPlan plan(10, 4, 1);
  EXPECT_EQ(plan.num_chunks(), 3);
  EXPECT_EQ(plan.chunk(2).begin, 8);
  EXPECT_EQ(plan.chunk(2).end, 10);
  EXPECT_THROW(plan.chunk(3), InternalError);
}

TEST(ChunksInFlight, AtLeastFourBatchesAndTwoChunksWithinTheBytes) {
  const size_t small = size_t{38} << 20;              // ResNet-50's 256 images
  EXPECT_EQ(ChunksInFlight(57344, 8192, small), 2u);  // 7 batches a chunk
  EXPECT_EQ(ChunksInFlight(512, 256, small), 2u);
  EXPECT_EQ(ChunksInFlight(256, 256, small), 4u);  // one batch each
  EXPECT_EQ(ChunksInFlight(300, 256, small), 4u);  // a partial second batch does not count
  EXPECT_EQ(ChunksInFlight(16, 8, 1024), 2u);
  EXPECT_EQ(ChunksInFlight(1, 1, 1024), 4u);
  EXPECT_EQ(ChunksInFlight(1, 1000, 1024), 4u);                // chunks shorter than a batch
  EXPECT_EQ(ChunksInFlight(256, 256, size_t{100} << 20), 2u);  // 4 would pass 256 MiB
  EXPECT_EQ(ChunksInFlight(256, 256, size_t{80} << 20), 3u);
  EXPECT_EQ(ChunksInFlight(256, 256, size_t{1} << 30), 2u);  // never below 2
}

TEST(ChooseChunkRows, ChunksPerRankIsATarget) {
  EXPECT_EQ(ChooseChunkRows(100000, 64, 2, 100, 0, 16), 3136);  // ceil(50000 / 16 / 64) * 64
  EXPECT_EQ(ChooseChunkRows(100000, 64, 2, 100, 0, 1), 25024);  // at least two per rank
}

TEST(ChooseChunkRows, AutoIsAMultipleOfTheBatchAndAboutFourPerRank) {
  EXPECT_EQ(ChooseChunkRows(1797, 128, 4, 100, 0), 128);
  EXPECT_EQ(ChooseChunkRows(100000, 64, 2, 100, 0), 12544);  // ceil(12500 / 64) * 64
  EXPECT_EQ(ChooseChunkRows(5, 128, 4, 100, 0), 5);          // never more than the rows
  EXPECT_EQ(ChooseChunkRows(1, 1, 1, 100, 0), 1);
}

TEST(ChooseChunkRows, AutoStaysNearSixtyFourMiB) {
  const size_t row_bytes = 1 << 20;  // 1 MiB rows
  EXPECT_EQ(ChooseChunkRows(100000, 8, 1, row_bytes, 0), 64);
  EXPECT_EQ(ChooseChunkRows(100000, 100, 1, row_bytes, 0), 100);  // never below one batch
}

TEST(ChooseChunkRows, RequestedSizeIsKeptOrRefused) {
  EXPECT_EQ(ChooseChunkRows(1000, 128, 4, 100, 7), 7);
  EXPECT_EQ(ChooseChunkRows(10, 128, 4, 100, 70), 10);
  EXPECT_THROW(ChooseChunkRows(100000, 8, 1, size_t{1} << 20, 2000), ConfigError);
}

// Rows of several files: numbered across them in order, cut per file, so a
// chunk never spans two files; a file without rows has no chunk; one file is
// cut as a single run of rows is.
TEST(ChunkPlan, ChunksNeverSpanTwoFiles) {
  const std::vector<std::vector<int64_t>> cases{{5, 0, 20, 3, 16}, {1, 1, 1},          {0, 9}, {9, 0}, {17},
                                                {8, 8, 8},         {3, 0, 0, 2, 30, 1}};
  for (const auto& files : cases) {
    for (int64_t chunk_rows = 1; chunk_rows <= 9; ++chunk_rows) {
      const int ranks = 3;
      SCOPED_TRACE(testing::Message() << files.size() << " files, " << chunk_rows << " per chunk");
      ChunkPlan plan(files, chunk_rows, ranks);
      std::vector<int64_t> first_row{0};
      int64_t chunks = 0;
      for (int64_t rows : files) {
        first_row.push_back(first_row.back() + rows);
        chunks += (rows + chunk_rows - 1) / chunk_rows;
      }
      EXPECT_EQ(plan.rows(), first_row.back());
      EXPECT_EQ(plan.num_chunks(), chunks);
      int64_t next_row = 0;
      for (int64_t id = 0; id < plan.num_chunks(); ++id) {
        const Chunk c = plan.chunk(id);
        EXPECT_EQ(c.id, id);
        EXPECT_EQ(c.begin, next_row);  // in row order, every row once
        ASSERT_GE(c.file, 0);
        ASSERT_LT(static_cast<size_t>(c.file), files.size());
        const auto f = static_cast<size_t>(c.file);
        EXPECT_GE(c.begin, first_row[f]);
        EXPECT_LE(c.end, first_row[f + 1]);  // inside its file
        EXPECT_GE(c.rows(), 1);
        EXPECT_LE(c.rows(), chunk_rows);
        // Only a file's last chunk is short.
        if (c.end != first_row[f + 1]) {
          EXPECT_EQ(c.rows(), chunk_rows);
        }
        next_row = c.end;
      }
      EXPECT_EQ(next_row, plan.rows());
      if (files.size() == 1) {
        const ChunkPlan one(files[0], chunk_rows, ranks);
        for (int64_t id = 0; id < one.num_chunks(); ++id) {
          EXPECT_EQ(plan.chunk(id).begin, one.chunk(id).begin);
          EXPECT_EQ(plan.chunk(id).end, one.chunk(id).end);
        }
      }
    }
  }
}

// Whenever each rank can have a whole batch, it has a chunk: for both
// schedules' targets, small and large rows and rows of up to 64 MiB.
TEST(ChooseChunkRows, EveryRankHasAChunkWhenThereIsABatchForEach) {
  for (int64_t rows : {1, 2, 3, 7, 100, 999, 1000, 1001, 4096, 100'003, 10'000'019}) {
    for (int64_t batch : {1, 2, 8, 128, 256, 1000}) {
      for (int ranks : {1, 2, 3, 4, 7, 8, 16, 64}) {
        for (int per_rank : {4, 16}) {
          for (size_t row_bytes : {size_t{4}, size_t{4000}, size_t{1} << 20, size_t{64} << 20}) {
            if (rows < ranks * batch || static_cast<int64_t>(row_bytes) * batch > (int64_t{1} << 30)) continue;
            SCOPED_TRACE(testing::Message() << rows << " rows, batch " << batch << ", " << ranks << " ranks, "
                                            << per_rank << " per rank, " << row_bytes << " bytes a row");
            const int64_t chunk = ChooseChunkRows(rows, batch, ranks, row_bytes, 0, per_rank);
            EXPECT_EQ(chunk % batch == 0 || chunk == rows, true) << chunk;
            EXPECT_EQ(IdleRanks(ChunkPlan(rows, chunk, ranks).num_chunks(), ranks), 0) << chunk;
          }
        }
      }
    }
  }
}

// A big job's chunks stay at about 64 MiB whatever the rank count.
TEST(ChooseChunkRows, BigJobsKeepTheirChunks) {
  const int64_t by_bytes = (int64_t{64} << 20) / 400 / 128 * 128;
  EXPECT_EQ(ChooseChunkRows(100'000'000, 128, 4, 400, 0, 16), by_bytes);
  EXPECT_EQ(ChooseChunkRows(100'000'000, 128, 8, 400, 0, 16), by_bytes);
}

TEST(IdleRanks, RanksBeyondTheChunks) {
  EXPECT_EQ(IdleRanks(1, 4), 3);
  EXPECT_EQ(IdleRanks(0, 4), 4);
  EXPECT_EQ(IdleRanks(4, 4), 0);
  EXPECT_EQ(IdleRanks(100, 4), 0);
}

// Short files make short chunks: 512 files of one batch each hold 4 chunks in
// flight, as one-batch chunks of one file do, where the planned chunk_rows
// (15 batches) alone would give 2 and leave the device waiting between files.
TEST(ChunksInFlight, CountsTheChunksAsFilesCutThem) {
  const size_t row_bytes = 1064;  // the MLP's 256 float32 inputs and 10 outputs
  const ChunkPlan shards(std::vector<int64_t>(512, 4096), 61440, 1);
  EXPECT_EQ(shards.longest_chunk_rows(), 4096);
  EXPECT_EQ(ChunksInFlight(shards, 4096, row_bytes), 4u);
  const ChunkPlan whole(std::vector<int64_t>{512 * 4096}, 61440, 1);
  EXPECT_EQ(whole.longest_chunk_rows(), 61440);
  EXPECT_EQ(ChunksInFlight(whole, 4096, row_bytes), 2u);
  // Batches count the mean chunk, bytes the longest: one long file among
  // many short ones.
  std::vector<int64_t> mixed(10000, 256);
  mixed.push_back(1 << 20);
  const ChunkPlan uneven(mixed, 65536, 1);
  EXPECT_EQ(uneven.longest_chunk_rows(), 65536);
  EXPECT_EQ(ChunksInFlight(uneven, 256, 1024), 4u);  // 64 MiB chunks: 4 within 256 MiB
  EXPECT_EQ(ChunksInFlight(uneven, 256, 2048), 2u);  // 128 MiB chunks: 2
}

}  // namespace mpsbatch
