// The vitrt command (placeholder dispatch until the CLI lands).
#include <cstdio>

int main(int argc, char** argv) {
  (void)argv;
  std::fprintf(stderr, "usage: vitrt <build|run|inspect|bench> ...\n");
  return argc > 1 ? 1 : 2;
}
