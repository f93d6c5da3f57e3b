// Fuzzes the collector's decoding of ring-buffer records: whatever the
// bytes, it must never read past a record, and every path it keeps must be
// absolute.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "collector.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    trace_root::CollectorOptions options;
    options.only_under = size % 2 ? "/usr/bin/app" : "";
    trace_root::Collector collector(options);
    // The input is a sequence of records, each prefixed by a 2-byte length.
    size_t off = 0;
    while (off + 2 <= size) {
        size_t len = data[off] | (static_cast<size_t>(data[off + 1]) << 8);
        off += 2;
        if (len > size - off)
            len = size - off;
        // A heap copy of exactly `len` bytes, so ASan sees any overrun.
        std::vector<uint8_t> record(data + off, data + off + len);
        collector.on_record(record.data(), record.size());
        off += len;
    }
    trace_root::Report report;
    collector.finish(report);
    for (const auto& p : report.paths)
        if (p.path.empty() || p.path[0] != '/')
            abort();
    return 0;
}
