// tchdist's C++ shim. Each entry point catches every C++ exception and hands its message back
// as a heap string, as tch's PROTECT does; c10 errors lose their C++ backtrace on the way,
// as Python's bindings do by default.
#include "shim.h"
#include "protect.h"

#include <ATen/LegacyVmapMode.h>
#include <dlfcn.h>
#include <malloc.h>
#include <torch/headeronly/version.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/jit/ir/irparser.h>
#include <torch/csrc/jit/runtime/decomposition_registry.h>
#include <torch/torch.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::vector<at::Tensor> to_vector(const tensor *ts, int n) {
  std::vector<at::Tensor> out;
  out.reserve(n > 0 ? n : 0);
  for (int i = 0; i < n; ++i) {
    out.push_back(ts[i] == nullptr ? at::Tensor() : *ts[i]);
  }
  return out;
}

} // namespace

extern "C" {

void tchdist_free_error(char *err) { tchdist::free_message(err); }

char *tchdist_grad(const tensor *outputs, int n_outputs, const tensor *grad_outputs,
                   const tensor *inputs, int n_inputs, int retain_graph, int create_graph,
                   int allow_unused, tensor *results) {
  return tchdist::protect([&] {
    auto outs = to_vector(outputs, n_outputs);
    auto grads = to_vector(grad_outputs, n_outputs);
    auto ins = to_vector(inputs, n_inputs);
    std::optional<bool> retain =
        retain_graph < 0 ? std::nullopt : std::optional<bool>(retain_graph != 0);
    auto res = torch::autograd::grad(outs, ins, grads, retain, create_graph != 0,
                                     allow_unused != 0);
    for (int i = 0; i < n_inputs; ++i) {
      results[i] = res[i].defined() ? new at::Tensor(res[i]) : nullptr;
    }
  });
}

char *tchdist_register_decomposition(const char *name, const char *overload, const char *ir) {
  return tchdist::protect([&] {
    auto graph = std::make_shared<torch::jit::Graph>();
    torch::jit::parseIR(ir, graph.get());
    // The dispatcher's own schema object: libtorch looks decompositions up by its address.
    auto op = c10::Dispatcher::singleton().findSchemaOrThrow(name, overload);
    torch::jit::RegisterDecomposition(op.schema(), graph);
  });
}

char *tchdist_same_tensor(const tensor a, const tensor b, int *same) {
  return tchdist::protect(
      [&] { *same = a->unsafeGetTensorImpl() == b->unsafeGetTensorImpl() ? 1 : 0; });
}

char *tchdist_enter_dual_level(uint64_t *level) {
  return tchdist::protect([&] { *level = torch::autograd::forward_ad::enter_dual_level(); });
}

char *tchdist_exit_dual_level(uint64_t level) {
  return tchdist::protect([&] { torch::autograd::forward_ad::exit_dual_level(level); });
}

char *tchdist_grad_fn_name(const tensor t, char **name) {
  return tchdist::protect([&] {
    *name = nullptr;
    const auto &fn = t->grad_fn();
    if (fn) {
      std::string full = fn->name();
      auto pos = full.rfind("::");
      std::string shortname = pos == std::string::npos ? full : full.substr(pos + 2);
      *name = tchdist::dup_message(shortname.c_str());
    }
  });
}

const char *tchdist_torch_version(void) { return TORCH_VERSION; }

char *tchdist_load_library(const char *path) {
  return tchdist::protect([&] {
    if (dlopen(path, RTLD_NOW | RTLD_GLOBAL) == nullptr) {
      const char *why = dlerror();
      throw std::runtime_error(why != nullptr ? why : "dlopen failed");
    }
  });
}

char *tchdist_set_malloc_thresholds(int trim_threshold, int mmap_threshold) {
  return tchdist::protect([&] {
    if (mallopt(M_TRIM_THRESHOLD, trim_threshold) != 1 ||
        mallopt(M_MMAP_THRESHOLD, mmap_threshold) != 1) {
      throw std::runtime_error("mallopt refused the trim or mmap threshold");
    }
  });
}

char *tchdist_vmapmode_increment_nesting(int64_t *level) {
  return tchdist::protect([&] { *level = at::impl::VmapMode::increment_nesting(); });
}

char *tchdist_vmapmode_decrement_nesting(int64_t *level) {
  return tchdist::protect([&] { *level = at::impl::VmapMode::decrement_nesting(); });
}

} // extern "C"
