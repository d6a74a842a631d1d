// torch.func's primitives: the bodies of PyTorch's Python bindings in
// torch/csrc/functorch/init.cpp (not shipped in the wheel), over the functorch interpreter
// stack that libtorch_cpu exports (ATen/functorch/DynamicLayer.h). Each entry point runs inside
// tchdist::protect, so no C++ exception crosses into Rust; tensors cross as `at::Tensor*` and
// new results are `new at::Tensor(...)`, owned by the caller.
#include "protect.h"
#include "shim.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/WrapDimUtils.h>
#include <ATen/functorch/BatchedTensorImpl.h>
#include <ATen/functorch/DynamicLayer.h>
#include <ATen/functorch/LegacyVmapTransforms.h>
#include <ATen/functorch/TensorWrapper.h>
#include <c10/core/AutogradState.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <cstdint>
#include <mutex>
#include <utility>

using at::Tensor;
using namespace at::functorch;

namespace {

// init.cpp's get_randomness_enum, indexed as tchdist's Rust enum: 0 error, 1 different, 2 same.
RandomnessType randomness_from_int(int randomness) {
  switch (randomness) {
  case 0:
    return RandomnessType::Error;
  case 1:
    return RandomnessType::Different;
  case 2:
    return RandomnessType::Same;
  default:
    TORCH_CHECK(false, "randomness argument must be error, same, or different.");
  }
}

bool has_level(const Tensor &self, int64_t level) {
  const auto *batched = maybeGetBatchedImpl(self);
  if (!batched) {
    return false;
  }
  return batched->level() >= level;
}

// init.cpp's _movedim: moves dimension `src` to `dst`, keeping the others in order.
Tensor move_dim(const Tensor &self, int64_t src, int64_t dst) {
  auto logical_dim = self.dim();
  src = at::maybe_wrap_dim(src, logical_dim);
  dst = at::maybe_wrap_dim(dst, logical_dim);
  if (src == dst) {
    return self;
  }
  VmapDimVector permutation;
  permutation.reserve(logical_dim);
  for (int64_t dim = 0; dim < logical_dim; dim++) {
    if (dim == src) {
      continue;
    }
    permutation.push_back(dim);
  }
  permutation.insert(permutation.begin() + dst, src);
  return self.permute(permutation);
}

// Flips the inference-mode bit without the InferenceMode guard (which would also clobber the
// grad and forward-grad modes), as init.cpp's grad/jvp nesting does.
void set_inference_mode_bit(bool enabled) {
  auto state = c10::AutogradState::get_tls_state();
  state.set_inference_mode(enabled);
  c10::AutogradState::set_tls_state(state);
}

} // namespace

extern "C" {

// torch._C._functorch._vmap_increment_nesting(batch_size, randomness).
char *tchdist_vmap_increment_nesting(int64_t batch_size, int randomness, int64_t *level) {
  return tchdist::protect([&] {
    *level = initAndPushDynamicLayer(TransformType::Vmap, c10::SymInt(batch_size),
                                     randomness_from_int(randomness));
  });
}

// torch._C._functorch._vmap_decrement_nesting().
char *tchdist_vmap_decrement_nesting(int64_t *level) {
  return tchdist::protect([&] {
    auto layer = popDynamicLayerAndDeleteMetadata();
    TORCH_INTERNAL_ASSERT(layer.key() == TransformType::Vmap);
    *level = layer.layerId();
  });
}

// torch._C._functorch._grad_increment_nesting(): remembers the grad mode and inference mode
// (see NOTE [grad and vjp interaction with no_grad]) and turns inference mode off.
char *tchdist_grad_increment_nesting(int64_t *level) {
  return tchdist::protect([&] {
    bool prev_grad_mode = c10::GradMode::is_enabled();
    bool prev_inference_mode = c10::InferenceMode::is_enabled();
    if (prev_inference_mode) {
      set_inference_mode_bit(false);
    }
    *level = initAndPushDynamicLayer(TransformType::Grad, std::nullopt, std::nullopt,
                                     prev_grad_mode, std::nullopt, std::nullopt,
                                     prev_inference_mode);
  });
}

// torch._C._functorch._grad_decrement_nesting().
char *tchdist_grad_decrement_nesting(int64_t *level) {
  return tchdist::protect([&] {
    auto layer = popDynamicLayerAndDeleteMetadata();
    TORCH_INTERNAL_ASSERT(layer.key() == TransformType::Grad);
    auto &meta = std::get<GradInterpreterMeta>(layer.interpreter().meta());
    if (meta.prevInferenceMode_) {
      set_inference_mode_bit(true);
    }
    *level = layer.layerId();
  });
}

// torch._C._functorch._jvp_increment_nesting().
char *tchdist_jvp_increment_nesting(int64_t *level) {
  return tchdist::protect([&] {
    bool prev_fwd_grad_mode = c10::AutogradState::get_tls_state().get_fw_grad_mode();
    bool prev_inference_mode = c10::InferenceMode::is_enabled();
    if (prev_inference_mode) {
      set_inference_mode_bit(false);
    }
    *level = initAndPushDynamicLayer(TransformType::Jvp, std::nullopt, std::nullopt,
                                     std::nullopt, prev_fwd_grad_mode, std::nullopt,
                                     prev_inference_mode);
  });
}

// torch._C._functorch._jvp_decrement_nesting().
char *tchdist_jvp_decrement_nesting(int64_t *level) {
  return tchdist::protect([&] {
    auto layer = popDynamicLayerAndDeleteMetadata();
    TORCH_INTERNAL_ASSERT(layer.key() == TransformType::Jvp);
    auto &meta = std::get<JvpInterpreterMeta>(layer.interpreter().meta());
    if (meta.prevInferenceMode_) {
      set_inference_mode_bit(true);
    }
    *level = layer.layerId();
  });
}

// torch._C._functorch._add_batch_dim(self, batch_dim, level).
char *tchdist_add_batch_dim(tensor self, int64_t batch_dim, int64_t level, tensor *out) {
  return tchdist::protect(
      [&] { *out = new Tensor(addBatchDim(*self, batch_dim, level)); });
}

// torch._C._functorch._remove_batch_dim(self, level, batch_size, out_dim). One deliberate
// difference: where `self` lacks the level, init.cpp inserts the batch size at
// `begin() + out_dim` unchecked (reading out of bounds for a negative or too large out_dim);
// here out_dim is wrapped and checked as `_movedim` does in the batched case.
char *tchdist_remove_batch_dim(tensor self, int64_t level, int64_t batch_size, int64_t out_dim,
                               tensor *out) {
  return tchdist::protect([&] {
    const Tensor &t = *self;
    TORCH_CHECK(out_dim == 0 || !t.key_set().has(c10::DispatchKey::BatchedNestedTensor),
                "Nested tensors can only be vmapped over dim=0, but got dim=", out_dim);
    if (!has_level(t, level)) {
      auto sizes = t.sizes();
      VmapDimVector expanded_sizes(sizes.begin(), sizes.end());
      int64_t dim = at::maybe_wrap_dim(out_dim, t.dim() + 1);
      expanded_sizes.insert(expanded_sizes.begin() + dim, batch_size);
      *out = new Tensor(t.expand(expanded_sizes));
      return;
    }
    const auto *batched = maybeGetBatchedImpl(t);
    TORCH_INTERNAL_ASSERT(batched != nullptr);
    TORCH_INTERNAL_ASSERT(batched->level() == level);
    *out = new Tensor(move_dim(batched->value(), batched->bdim(), out_dim));
  });
}

// torch._C._functorch._wrap_for_grad(self, level).
char *tchdist_wrap_for_grad(tensor self, int64_t level, tensor *out) {
  return tchdist::protect([&] { *out = new Tensor(makeTensorWrapper(*self, level)); });
}

// torch._C._functorch._unwrap_for_grad(self, level).
char *tchdist_unwrap_for_grad(tensor self, int64_t level, tensor *out) {
  return tchdist::protect([&] {
    auto *wrapper = maybeGetTensorWrapper(*self);
    if (!wrapper) {
      *out = new Tensor(*self);
      return;
    }
    TORCH_INTERNAL_ASSERT(wrapper->level().has_value());
    if (wrapper->level() == level) {
      *out = new Tensor(wrapper->value());
      return;
    }
    *out = new Tensor(*self);
  });
}

// torch._C._functorch.get/set_inplace_requires_grad_allowed.
char *tchdist_set_inplace_requires_grad_allowed(int allowed, int *prev) {
  return tchdist::protect([&] {
    *prev = getInplaceRequiresGradAllowed() ? 1 : 0;
    setInplaceRequiresGradAllowed(allowed != 0);
  });
}

// torch.is_grad_enabled().
char *tchdist_is_grad_enabled(int *out) {
  return tchdist::protect([&] { *out = c10::GradMode::is_enabled() ? 1 : 0; });
}

// torch._C._set_grad_enabled, returning the previous mode (torch.enable_grad()).
char *tchdist_set_grad_enabled(int enabled, int *prev) {
  return tchdist::protect([&] {
    *prev = c10::GradMode::is_enabled() ? 1 : 0;
    c10::GradMode::set_enabled(enabled != 0);
  });
}

// torch._C._set_fwd_grad_enabled, returning the previous mode
// (torch.autograd.forward_ad._set_fwd_grad_enabled).
char *tchdist_set_fwd_grad_enabled(int enabled, int *prev) {
  return tchdist::protect([&] {
    *prev = c10::AutogradState::get_tls_state().get_fw_grad_mode() ? 1 : 0;
    c10::AutogradState::get_tls_state().set_fw_grad_mode(enabled != 0);
  });
}

// torch.get_rng_state(): the default CPU generator's state as a new uint8 tensor.
char *tchdist_get_rng_state(tensor *out) {
  return tchdist::protect([&] {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    *out = new Tensor(gen.get_state());
  });
}

// torch.set_rng_state(state).
char *tchdist_set_rng_state(tensor state) {
  return tchdist::protect([&] {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(*state);
  });
}

} // extern "C"
