// Schemas of the indexing op family (placeholder until the family lands).
#include "ir/op_schema.h"

namespace vitrt {

void register_indexing_schemas(OpRegistry& registry) {
  (void)registry;
}

}  // namespace vitrt
