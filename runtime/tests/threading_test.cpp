// The threading contract (docs/RUNTIME.md, "Threads"): calls on different
// requests may run concurrently from different threads; calls on one request
// are serialised by the caller. Several threads hammer one CPU runtime, each
// with its own requests, and must get exactly what a sequential run gets;
// others fight over a small pool and few batch slots. Run under TSan too
// (HSA_RUNTIME_SANITIZE=thread, scripts/check-runtime-sanitized.sh), which
// reports any data race. Checks run on the main thread after the joins.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "runtime_internal.h"
#include "test_artifact.h"
#include "test_support.h"

namespace hsa {
namespace {


constexpr uint32_t kKvRow = 2 * 32, kQRow = 8 * 32;

std::unique_ptr<Runtime> make_runtime(uint32_t batch, uint32_t pool_pages, uint64_t max_context = 512) {
  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  options.max_batch = batch;
  options.max_context_tokens = max_context;
  options.pool_pages = pool_pages;
  std::unique_ptr<Runtime> rt;
  EXPECT_TRUE(Runtime::create(options, &rt).is_ok());
  const std::vector<uint8_t> bytes = artifact::make_test_artifact(artifact::small_selecting_config());
  EXPECT_TRUE(rt->load_artifact(bytes.data(), bytes.size()).is_ok());
  return rt;
}

// What one thread does with its own two requests, and everything it saw.
struct Worker {
  uint32_t seed;
  std::vector<Status> failures;         // any non-ok status
  std::vector<std::vector<uint16_t>> outputs;  // o of every decode step, in order
  std::vector<std::vector<int32_t>> selections;
  std::vector<uint64_t> lengths;

  void run(Runtime& rt) {
    std::mt19937 rng(seed);
    auto expect_ok = [&](const Status& s) {
      if (!s.is_ok()) failures.push_back(s);
      return s.is_ok();
    };
    for (int round = 0; round < 2; ++round) {
      RequestId ids[2];
      for (int i = 0; i < 2; ++i) {
        if (!expect_ok(rt.create_request(&ids[i]))) return;
        const uint32_t tokens = 20 + (seed * 7 + uint32_t(i) * 13 + uint32_t(round) * 29) % 100;
        const std::vector<uint16_t> k = test::random_kv(rng, tokens * kKvRow, artifact::KvDtype::BF16);
        const std::vector<uint16_t> v = test::random_kv(rng, tokens * kKvRow, artifact::KvDtype::BF16);
        if (!expect_ok(rt.prefill(ids[i], k.data(), v.data(), tokens))) return;
      }
      for (int step = 0; step < 6; ++step) {
        const std::vector<uint16_t> k = test::random_kv(rng, 2 * kKvRow, artifact::KvDtype::BF16);
        const std::vector<uint16_t> v = test::random_kv(rng, 2 * kKvRow, artifact::KvDtype::BF16);
        if (!expect_ok(rt.append(ids, 2, k.data(), v.data()))) return;
        const std::vector<uint16_t> q = test::random_kv(rng, 2 * kQRow, artifact::KvDtype::BF16);
        std::vector<uint16_t> o(2 * kQRow);
        StepStats stats;
        if (!expect_ok(rt.decode_step(ids, 2, q.data(), o.data(), &stats))) return;
        outputs.push_back(o);
        std::vector<int32_t> units(2 * 6);
        if (!expect_ok(rt.selected_units(ids[step % 2], units.data(), units.size()))) return;
        selections.push_back(units);
        RequestAccounting a;
        if (!expect_ok(rt.request_accounting(ids[(step + 1) % 2], &a))) return;
        lengths.push_back(a.length_tokens);
      }
      for (RequestId id : ids)
        if (!expect_ok(rt.release_request(id))) return;
    }
  }
};

TEST(Threading, RequestsOnSeparateThreadsMatchASequentialRun) {
  constexpr int kThreads = 4;
  std::unique_ptr<Runtime> shared = make_runtime(2 * kThreads, 0);
  std::vector<Worker> concurrent(kThreads), sequential(kThreads);
  for (int t = 0; t < kThreads; ++t) concurrent[t].seed = sequential[t].seed = uint32_t(100 + t);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back([&, t] { concurrent[t].run(*shared); });
  for (std::thread& th : threads) th.join();
  // The same work, one thread after the other, each on a fresh runtime.
  for (int t = 0; t < kThreads; ++t) {
    std::unique_ptr<Runtime> alone = make_runtime(2 * kThreads, 0);
    sequential[t].run(*alone);
  }
  for (int t = 0; t < kThreads; ++t) {
    for (const Status& s : concurrent[t].failures) ADD_FAILURE() << "thread " << t << ": " << s.message();
    ASSERT_TRUE(sequential[t].failures.empty()) << sequential[t].failures[0].message();
    ASSERT_EQ(concurrent[t].outputs.size(), 12u) << "thread " << t;
    EXPECT_EQ(concurrent[t].outputs, sequential[t].outputs) << "thread " << t;
    EXPECT_EQ(concurrent[t].selections, sequential[t].selections) << "thread " << t;
    EXPECT_EQ(concurrent[t].lengths, sequential[t].lengths) << "thread " << t;
  }
  EXPECT_EQ(RuntimeInternals::cache(*shared).free_pages(), RuntimeInternals::shape(*shared).pool_pages);
}

// More threads than batch slots and a pool too small for all of them: creates
// and prefills compete (OutOfCapacity is a legal answer), requests come and
// go. Afterwards every slot and page is back.
TEST(Threading, ContendedSlotsAndPoolStayConsistent) {
  constexpr int kThreads = 6;
  constexpr uint32_t kPoolPages = 40;  // 8-token pages: about 320 tokens for everyone
  std::unique_ptr<Runtime> rt = make_runtime(4, kPoolPages, 256);
  std::atomic<int> unexpected{0}, capacity{0}, completed{0};
  std::vector<std::string> problems(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(uint32_t(7 + t));
      const std::vector<uint16_t> kv = test::random_kv(rng, 200 * kKvRow, artifact::KvDtype::BF16);
      const std::vector<uint16_t> q = test::random_kv(rng, kQRow, artifact::KvDtype::BF16);
      std::vector<uint16_t> o(kQRow);
      auto classify = [&](const Status& s) {
        if (s.is_ok()) return true;
        if (s.code() == StatusCode::OutOfCapacity) ++capacity;
        else if (problems[t].empty()) problems[t] = s.message(), ++unexpected;
        return false;
      };
      for (int i = 0; i < 40; ++i) {
        RequestId id = 0;
        if (!classify(rt->create_request(&id))) continue;
        const uint32_t tokens = 1 + uint32_t(rng() % 180);
        if (classify(rt->prefill(id, kv.data(), kv.data(), tokens))) {
          for (int step = 0; step < 3; ++step) {
            if (!classify(rt->append(&id, 1, kv.data(), kv.data()))) break;
            StepStats stats;
            if (!classify(rt->decode_step(&id, 1, q.data(), o.data(), &stats))) break;
          }
          ++completed;
        }
        classify(rt->release_request(id));
      }
    });
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_TRUE(problems[t].empty()) << "thread " << t << ": " << problems[t];
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_GT(completed.load(), 0);
  // Everything came back: the whole pool, every slot.
  EXPECT_EQ(RuntimeInternals::cache(*rt).free_pages(), kPoolPages);
  std::vector<RequestId> ids(4);
  for (RequestId& id : ids) ASSERT_TRUE(rt->create_request(&id).is_ok());
  std::mt19937 rng(1);
  const std::vector<uint16_t> kv = test::random_kv(rng, 80 * kKvRow, artifact::KvDtype::BF16);
  for (RequestId id : ids) EXPECT_TRUE(rt->prefill(id, kv.data(), kv.data(), 80).is_ok());  // 4 x 10 pages
}

}  // namespace
}  // namespace hsa
