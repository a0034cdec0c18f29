/* bad_abi.c - a plugin stamped with a future ABI version: must be refused. */
#include "contactgate/plugin.h"

__attribute__((visibility("default"))) const struct cg_plugin cg_plugin_descriptor = {
    .abi_version = CG_PLUGIN_ABI_VERSION + 41,
    .struct_size = sizeof(struct cg_plugin),
    .name = "bad_abi",
    .version = "0",
};
