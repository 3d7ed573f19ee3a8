// Schemas of the resize op family (placeholder until the family lands).
#include "ir/op_schema.h"

namespace vitrt {

void register_resize_schemas(OpRegistry& registry) {
  (void)registry;
}

}  // namespace vitrt
