// Store-level commands: init, key add|list|remove.
#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdio>
#include <memory>

#include "cli/common.h"
#include "cli/output.h"
#include "cli/password.h"
#include "core/config_object.h"

namespace kloset::cli {

namespace {


struct InitArgs {
  std::string store;
  std::string pack_size = "16MiB";
  std::string chunk_avg = "1MiB";
  int compression_level = 3;
  int kdf_memory_mib = 0, kdf_ops = 0;
};

int RunInit(const GlobalOptions& g, InitArgs& a) {
  ResolvePositionals("init", "STORE", {&a.store});
  InitOptions opts;
  uint64_t pack = 0, avg = 0;
  if (!ParseSize(a.pack_size, &pack) || pack < (4u << 10) || pack > (1u << 30)) {
    Die(kExitUsage, "invalid --pack-size '" + a.pack_size + "': expected 4KiB..1GiB");
  }
  if (!ParseSize(a.chunk_avg, &avg) || avg > (1u << 28) || (avg & (avg - 1)) != 0) {
    Die(kExitUsage, "invalid --chunk-avg '" + a.chunk_avg + "': expected a power of two");
  }
  opts.pack_size = static_cast<uint32_t>(pack);
  // min and max follow the average the way the defaults do (1/4 and 4x).
  opts.chunker.avg_size = static_cast<uint32_t>(avg);
  opts.chunker.min_size = static_cast<uint32_t>(avg / 4);
  opts.chunker.max_size = static_cast<uint32_t>(avg * 4);
  // Checked here too so a refused setting leaves no empty store folder behind.
  if (Status v = ValidateChunkerParams(opts.chunker); !v.ok()) {
    Die(kExitUsage, "invalid --chunk-avg '" + a.chunk_avg + "': " + v.message());
  }
  if (a.compression_level < -7 || a.compression_level > 22) {
    Die(kExitUsage, "invalid --compression-level " + std::to_string(a.compression_level) +
                        ": expected -7..22");
  }
  opts.compression_level = a.compression_level;
  opts.kdf = KdfFromOptions(a.kdf_memory_mib, a.kdf_ops);
  opts.key_label = DefaultKeyLabel();

  std::unique_ptr<Remote> remote;
  Status s = OpenRemote(a.store, /*create=*/true, &remote);
  if (!s.ok()) DieStatus(s, "cannot create store at " + a.store);
  // Refuse before asking for a passphrase that would not be used.
  ObjectInfo info;
  if (remote->Stat("config", &info).ok()) Die(kExitError, "a store already exists at " + a.store);

  std::unique_ptr<Repository> repo;
  {
    Secret pass = ReadPassphrase(g, a.store, /*confirm=*/true);
    if (pass.empty()) Die(kExitUsage, "refusing an empty passphrase for store " + a.store);
    s = Repository::Init(std::move(remote), pass.view(), opts, &repo);
  }
  if (s.code() == Code::kExists) Die(kExitError, "a store already exists at " + a.store);
  if (!s.ok()) DieStatus(s, "cannot create store at " + a.store);
  if (!g.quiet) {
    std::printf("created klosetfs store %s at %s\n", repo->config().StoreIdHex().c_str(),
                a.store.c_str());
    std::printf("Keep the passphrase safe: without it nobody can read this store, not even "
                "you.\n");
  }
  return kExitOk;
}

struct KeyArgs {
  std::string store, key_id, new_password_file, label;
  int kdf_memory_mib = 0, kdf_ops = 0;
  bool json = false;
};

int RunKeyAdd(const GlobalOptions& g, KeyArgs& a) {
  ResolvePositionals("key add", "STORE", {&a.store});
  auto repo = OpenStore(g, a.store);
  std::string id;
  Status s;
  {
    Secret pass = ReadNewPassphrase(a.new_password_file, a.store);
    if (pass.empty()) Die(kExitUsage, "refusing an empty passphrase for store " + a.store);
    s = repo->AddKey(pass.view(), KdfFromOptions(a.kdf_memory_mib, a.kdf_ops),
                     a.label.empty() ? DefaultKeyLabel() : a.label, &id);
  }
  if (!s.ok()) DieStatus(s, "cannot add a key to store " + a.store);
  if (!g.quiet) std::printf("added key %s to store %s\n", id.c_str(), a.store.c_str());
  return kExitOk;
}

int RunKeyList(const GlobalOptions& g, KeyArgs& a) {
  ResolvePositionals("key list", "STORE", {&a.store});
  auto repo = OpenStore(g, a.store);
  std::vector<KeyInfo> keys;
  Status s = repo->ListKeys(&keys);
  if (!s.ok()) DieStatus(s, "cannot list the keys of store " + a.store);
  if (a.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& k : keys) {
      nlohmann::json j;
      j["id"] = k.id;
      SetJsonBytes(j, "label", k.label);
      j["created"] = FormatTimeRfc3339(k.created_ns);
      j["current"] = k.current;
      arr.push_back(std::move(j));
    }
    std::printf("%s\n", DumpJson(arr).c_str());
    return kExitOk;
  }
  Table t({" ", "ID", "Label", "Created"});
  for (const auto& k : keys) {
    t.Add({k.current ? "*" : " ", k.id.substr(0, 12), EscapeForTerminal(k.label),
           LocalTime(k.created_ns)});
  }
  std::fputs(t.Render().c_str(), stdout);
  return kExitOk;
}

int RunKeyRemove(const GlobalOptions& g, KeyArgs& a) {
  ResolvePositionals("key remove", "STORE KEY_ID", {&a.store, &a.key_id});
  auto repo = OpenStore(g, a.store);
  Status s = repo->RemoveKey(a.key_id);
  if (s.IsNotFound()) Die(kExitError, "no key matches '" + a.key_id + "' in store " + a.store);
  if (!s.ok()) DieStatus(s, "cannot remove key " + a.key_id + " from store " + a.store);
  if (!g.quiet) std::printf("removed key %s from store %s\n", a.key_id.c_str(), a.store.c_str());
  return kExitOk;
}

void AddKdfOptions(CLI::App* sub, int* mem, int* ops) {
  // Hidden, for tests only (empty group): a real store wants the defaults.
  sub->add_option("--kdf-memory-mib", *mem, "Argon2id memory in MiB (testing only)")->group("");
  sub->add_option("--kdf-ops", *ops, "Argon2id passes (testing only)")->group("");
}

}  // namespace

void AddStoreCommands(CLI::App& app, Cli& cli) {
  auto ia = std::make_shared<InitArgs>();
  CLI::App* init = app.add_subcommand(
      "init", "Create a new store at STORE; asks for the passphrase twice on a terminal");
  init->add_option("STORE", ia->store, "Store folder (or set KLOSETFS_STORE)");
  init->add_option("--pack-size", ia->pack_size, "Target pack file size (4KiB..1GiB)")
      ->capture_default_str();
  init->add_option("--chunk-avg", ia->chunk_avg,
                   "Average chunk size, a power of two; min = avg/4, max = 4*avg")
      ->capture_default_str();
  init->add_option("--compression-level", ia->compression_level, "zstd level (-7..22)")
      ->capture_default_str();
  AddKdfOptions(init, &ia->kdf_memory_mib, &ia->kdf_ops);
  cli.runners[init] = [ia, &cli] { return RunInit(cli.g, *ia); };

  CLI::App* key = app.add_subcommand("key", "Manage the passphrases (key slots) of a store");
  auto ka = std::make_shared<KeyArgs>();
  CLI::App* add = key->add_subcommand(
      "add", "Add a passphrase; the new one comes from --new-password-file, "
             "KLOSETFS_NEW_PASSWORD or a terminal prompt");
  add->add_option("STORE", ka->store, "Store folder (or set KLOSETFS_STORE)");
  add->add_option("--new-password-file", ka->new_password_file,
                  "Read the new passphrase from the first line of this file");
  add->add_option("--label", ka->label, "Label shown by 'key list' (default user@host)");
  AddKdfOptions(add, &ka->kdf_memory_mib, &ka->kdf_ops);
  cli.runners[add] = [ka, &cli] { return RunKeyAdd(cli.g, *ka); };

  CLI::App* list = key->add_subcommand("list", "List the key slots; * marks the one in use");
  list->add_option("STORE", ka->store, "Store folder (or set KLOSETFS_STORE)");
  list->add_flag("--json", ka->json, "Print a JSON array");
  cli.runners[list] = [ka, &cli] { return RunKeyList(cli.g, *ka); };

  CLI::App* remove = key->add_subcommand(
      "remove", "Remove a key slot by id or unique id prefix (not the one in use, not the last)");
  remove->add_option("STORE", ka->store, "Store folder (or set KLOSETFS_STORE)");
  remove->add_option("KEY_ID", ka->key_id, "Key id or unique prefix, from 'key list'");
  cli.runners[remove] = [ka, &cli] { return RunKeyRemove(cli.g, *ka); };
}

}  // namespace kloset::cli
