// Fixed keys shared by the fuzz targets and their corpus generator
// (fuzz/make_corpus.cc): seeds sealed under these keys open inside the
// targets, so fuzzing reaches the parsers behind the AEAD.
#pragma once

#include "core/crypto.h"

namespace kloset::fuzz {

inline Key FuzzMaster() {
  Key k;
  for (size_t i = 0; i < k.size(); i++) k[i] = static_cast<uint8_t>(0x42 + i);
  return k;
}

// The data subkey of FuzzMaster(): seals pack headers, indexes, config settings.
inline Key FuzzDataKey() {
  static const Key k = [] {
    InitCrypto();
    return DeriveSubkey(FuzzMaster(), Subkey::kData);
  }();
  return k;
}

// The local subkey of FuzzMaster() and a fixed store id: seal and name the
// ingest journal seeds.
inline Key FuzzLocalKey() {
  static const Key k = [] {
    InitCrypto();
    return DeriveSubkey(FuzzMaster(), Subkey::kLocal);
  }();
  return k;
}

inline Hash FuzzJournalStoreId() {
  Hash h;
  h.fill(0x5a);
  return h;
}

}  // namespace kloset::fuzz
