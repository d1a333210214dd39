// Facts about the running system that several modules stamp into what they
// write: the wall clock and the host name. One definition, so a snapshot, a
// lock record and an ingest commit agree on both.
//
// Thread safety: both functions are reentrant.
#pragma once

#include <cstdint>
#include <string>

namespace kloset {

// Wall-clock time (CLOCK_REALTIME) in ns since the epoch, UTC.
int64_t NowNs();
// gethostname(), or "unknown" if it fails.
std::string HostName();

}  // namespace kloset
