#include "core/key_slot.h"

#include <cstring>

#include "core/encoding.h"

namespace kloset {

namespace {

constexpr char kMagic[4] = {'K', 'L', 'K', 'Y'};
constexpr size_t kWrappedSize = kSealOverhead + 32;
constexpr size_t kChecksumSize = 32;
constexpr char kLabelDomain[] = "kloset.keylabel";
// Bounds no honest slot exceeds; a damaged or hostile slot must not make
// Open spin for hours or allocate terabytes before the AEAD can refuse it.
constexpr uint64_t kMaxOpslimit = 32;
constexpr uint64_t kMaxMemlimit = uint64_t{1} << 30;

std::string LabelAad(std::string_view header) {
  std::string aad(kLabelDomain);
  aad.append(header);
  return aad;
}

}  // namespace

Status MakeKeySlot(const Key& master, std::string_view passphrase, const KdfParams& kdf,
                   std::string_view label, int64_t created_ns, std::string* bytes) {
  if (label.size() > kMaxKeyLabel) {
    return Status::InvalidArgument("key label longer than " + std::to_string(kMaxKeyLabel) +
                                   " bytes");
  }
  if (kdf.opslimit > kMaxOpslimit || kdf.memlimit > kMaxMemlimit) {
    return Status::InvalidArgument("Argon2id parameters too large");
  }
  std::array<uint8_t, 16> salt;
  RandomBytes(salt.data(), salt.size());
  Key pass_key;
  KLOSET_RETURN_IF_ERROR(DeriveFromPassphrase(passphrase, salt, kdf, &pass_key));

  std::string out(kMagic, 4);
  PutFixed32(&out, kKeySlotVersion);
  PutFixed64(&out, kdf.opslimit);
  PutFixed64(&out, kdf.memlimit);
  out.append(reinterpret_cast<const char*>(salt.data()), salt.size());
  PutFixed64(&out, static_cast<uint64_t>(created_ns));
  const std::string header = out;
  Seal(pass_key, std::string_view(reinterpret_cast<const char*>(master.data()), master.size()),
       header, &out);
  Wipe(pass_key.data(), pass_key.size());
  Key data_key = DeriveSubkey(master, Subkey::kData);
  Seal(data_key, label, LabelAad(header), &out);
  Wipe(data_key.data(), data_key.size());
  Hash sum = PlainHash(out);
  PutHash(&out, sum);
  *bytes = std::move(out);
  return Status::OK();
}

Status ParseKeySlot(std::string_view bytes, KeySlot* slot) {
  auto damaged = [](const std::string& why) { return Status::Corrupt("key slot damaged: " + why); };
  if (bytes.size() < kKeySlotHeaderSize + kWrappedSize + kSealOverhead + kChecksumSize) {
    return damaged("too short (" + std::to_string(bytes.size()) + " bytes)");
  }
  std::string_view body = bytes.substr(0, bytes.size() - kChecksumSize);
  Hash sum = PlainHash(body);
  if (!ConstantTimeEqual(sum.data(), bytes.data() + body.size(), kChecksumSize)) {
    return damaged("checksum mismatch");
  }
  if (std::memcmp(bytes.data(), kMagic, 4) != 0) return damaged("bad magic");
  std::string_view in = bytes.substr(4);
  KeySlot s;
  uint64_t created = 0;
  bool ok = GetFixed32(&in, &s.version) && GetFixed64(&in, &s.kdf.opslimit) &&
            GetFixed64(&in, &s.kdf.memlimit) && in.size() >= s.salt.size();
  if (!ok) return damaged("truncated header");
  std::memcpy(s.salt.data(), in.data(), s.salt.size());
  in.remove_prefix(s.salt.size());
  if (!GetFixed64(&in, &created)) return damaged("truncated header");
  s.created_ns = static_cast<int64_t>(created);
  if (s.version == 0) return damaged("version 0");
  if (s.version > kKeySlotVersion) {
    return Status::Version("key slot version " + std::to_string(s.version) +
                           " is newer than this klosetfs understands (" +
                           std::to_string(kKeySlotVersion) + ")");
  }
  if (s.kdf.opslimit == 0 || s.kdf.opslimit > kMaxOpslimit || s.kdf.memlimit > kMaxMemlimit) {
    return damaged("Argon2id parameters out of range");
  }
  s.header.assign(bytes.data(), kKeySlotHeaderSize);
  s.wrapped_key.assign(body.substr(kKeySlotHeaderSize, kWrappedSize));
  s.sealed_label.assign(body.substr(kKeySlotHeaderSize + kWrappedSize));
  if (s.sealed_label.size() > kMaxKeyLabel + kSealOverhead) return damaged("label too long");
  *slot = std::move(s);
  return Status::OK();
}

Status UnwrapKeySlot(const KeySlot& slot, std::string_view passphrase, Key* master) {
  Key pass_key;
  KLOSET_RETURN_IF_ERROR(DeriveFromPassphrase(passphrase, slot.salt, slot.kdf, &pass_key));
  std::string plain;
  Status s = Open(pass_key, slot.wrapped_key, slot.header, &plain);
  Wipe(pass_key.data(), pass_key.size());
  if (!s.ok() || plain.size() != master->size()) {
    Wipe(plain.data(), plain.size());
    return Status::WrongPassword("wrong passphrase");
  }
  std::memcpy(master->data(), plain.data(), master->size());
  Wipe(plain.data(), plain.size());
  return Status::OK();
}

Status OpenKeySlotLabel(const KeySlot& slot, const Key& data_key, std::string* label) {
  Status s = Open(data_key, slot.sealed_label, LabelAad(slot.header), label);
  if (!s.ok()) return Status::Corrupt("key slot label does not authenticate");
  return Status::OK();
}

}  // namespace kloset
