// Placeholder until the command line lands; replaced by cli/ sources.
#include <cstdio>

#include "core/version.h"

int main() {
  std::printf("klosetfs %s\n", KLOSETFS_VERSION);
  return 0;
}
