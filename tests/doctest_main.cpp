#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>

namespace trace_root::testing {

// Set when an assertion of the running test case fails; TempDir keeps its
// directory for inspection then.
std::atomic<bool> g_current_test_failed{false};

namespace {

struct FailureListener : doctest::IReporter {
    explicit FailureListener(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData&) override { g_current_test_failed = false; }
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override
    {
        g_current_test_failed = true;
    }
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData& a) override
    {
        if (a.m_failed)
            g_current_test_failed = true;
    }
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

}  // namespace trace_root::testing

REGISTER_LISTENER("trace-root-failures", 1, trace_root::testing::FailureListener);
