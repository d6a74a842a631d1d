// C interface of tchdist's C++ shim: the autograd entry points that tch 0.26 does not expose.
// Tensors cross the boundary as `at::Tensor*`, the same handle tch's `C_tensor` wraps.
// Every function returns NULL on success or a heap-allocated error message (free it with
// tchdist_free_error); no C++ exception crosses into Rust.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
#include <ATen/ATen.h>
typedef at::Tensor *tensor;
extern "C" {
#else
typedef void *tensor;
#endif

void tchdist_free_error(char *err);

// torch::autograd::grad. grad_outputs[i] may be NULL (an undefined tensor). retain_graph < 0
// means "default" (= create_graph). results[i] receives a new tensor, or NULL where the input
// was unused (allowed only with allow_unused).
char *tchdist_grad(const tensor *outputs, int n_outputs, const tensor *grad_outputs,
                   const tensor *inputs, int n_inputs, int retain_graph, int create_graph,
                   int allow_unused, tensor *results);

// Parses `ir` (TorchScript IR) and registers it as the JIT decomposition of the operator
// `name`.`overload`, as torch._C._jit_register_decomposition_for_schema does; libtorch's forward
// AD runs it for ops without a forward formula.
char *tchdist_register_decomposition(const char *name, const char *overload, const char *ir);

// *same = 1 when a and b share one TensorImpl (in Python: are the same object), else 0.
char *tchdist_same_tensor(const tensor a, const tensor b, int *same);

// torch::autograd::forward_ad::enter_dual_level / exit_dual_level.
char *tchdist_enter_dual_level(uint64_t *level);
char *tchdist_exit_dual_level(uint64_t level);

// The name of the tensor's grad_fn without its C++ namespace (Python's
// `type(t.grad_fn).__name__`), or *name = NULL for a leaf. Free *name with tchdist_free_error.
char *tchdist_grad_fn_name(const tensor t, char **name);

// TORCH_VERSION of the headers the shim was compiled against, e.g. "2.13.0" (static string).
const char *tchdist_torch_version(void);

// dlopen(path, RTLD_NOW | RTLD_GLOBAL): loads a library (libtorch_cuda) on demand; the error
// message is dlerror()'s.
char *tchdist_load_library(const char *path);

// glibc's mallopt(M_TRIM_THRESHOLD) and mallopt(M_MMAP_THRESHOLD), in bytes. Setting either
// turns off glibc's dynamic mmap threshold, which otherwise rises after the first large free
// and lets the heap keep (and fragment) every later large tensor.
char *tchdist_set_malloc_thresholds(int trim_threshold, int mmap_threshold);

// The legacy vmap mode behind torch._vmap_internals._vmap (is_grads_batched, vectorize=True):
// at::impl::VmapMode::increment_nesting / decrement_nesting; `level` receives the new level.
char *tchdist_vmapmode_increment_nesting(int64_t *level);
char *tchdist_vmapmode_decrement_nesting(int64_t *level);

// torch.matmul(a, x.unsqueeze(-1)).squeeze(-1) with ATen's CPU bits, one MKL ?gemv per row
// (batch_mv.cpp says when and why the bits are ATen's). *out = NULL where the fast path does
// not apply (the caller runs torch.matmul).
char *tchdist_batch_mv_rows(const tensor a, const tensor x, tensor *out);

// How many tchdist_batch_mv_rows calls took the gemv route in this process, and whether its
// guard has turned the route off.
void tchdist_batch_mv_stats(int64_t *calls, int *off);

#ifdef __cplusplus
}
#endif
