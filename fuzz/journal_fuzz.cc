// Fuzz target for the ingest journal (core/draft_journal.h): the whole-file
// scan under the fixed fuzz local key and store id, and the record payload
// decoders on the raw input. Anything that decodes must re-encode to the
// same bytes (one encoding per op), and a parsed journal's ops must survive
// an encode/decode round trip.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/draft_journal.h"
#include "fuzz/fuzz_keys.h"

using namespace kloset;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  DraftOp op;
  if (DecodeJournalOp(in, &op).ok()) {
    std::string again;
    EncodeJournalOp(op, &again);
    if (again != in) __builtin_trap();
  }
  bool has_base;
  Hash base;
  if (DecodeJournalBase(in, &has_base, &base).ok()) {
    std::string again;
    EncodeJournalBase(has_base ? &base : nullptr, &again);
    if (again != in) __builtin_trap();
  }
  JournalHeader h;
  if (DecodeJournalHeader(in, &h).ok() &&
      EncodeJournalHeader(h) != in.substr(0, kJournalHeaderSize)) {
    __builtin_trap();
  }
  JournalContents c;
  uint64_t good = 0;
  if (ParseJournal(in, fuzz::FuzzLocalKey(), fuzz::FuzzJournalStoreId(), &c, &good).ok()) {
    if (good > size || c.truncated_tail != (good < size)) __builtin_trap();
    for (const DraftOp& o : c.ops) {
      std::string payload;
      EncodeJournalOp(o, &payload);
      DraftOp back;
      if (!DecodeJournalOp(payload, &back).ok()) __builtin_trap();
    }
  }
  return 0;
}
