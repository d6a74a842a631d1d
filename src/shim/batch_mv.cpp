// The CPU bits of `torch.matmul(A, x.unsqueeze(-1))` for a 2-D A (m x k) stored column-major
// (as torch.linalg.cholesky returns it: strides (1, m)), not requiring grad, and contiguous
// rows x (..., k), without ATen's per-row cost.
//
// ATen sends that product to bmm with A expanded over the rows. Where k * m >= 400 and
// libtorch has MKL, bmm hands all rows to MKL's batched gemm (`baddbmm_with_gemm_`), one
// 1 x k row times the transposed matrix per entry. For a column-major A, MKL computes each such
// entry as its gemv does (`torch.mv(A, x_i)`, i.e. dgemv_('N', m, k, 1, A, m, x_i, 1, 0, y_i, 1)),
// and an entry's bits do not depend on the others; for a row-major A the batched entry matches
// no single MKL call we tried (gemv 'T', gemm per row), so that layout keeps ATen's path. All
// measured bit for bit in tests/sampling_fast_path.rs. Calling ?gemv_ per row over
// at::parallel_for, on the same rows at the same addresses, gives the same bits at a fraction
// of the batched call's cost.
//
// Below 400 ATen uses its own naive kernel, and other layouts other calls: those return
// *out = NULL and the caller runs torch.matmul. A guard compares the first two rows with
// ATen's own product on every call, and turns the path off for the process when they ever
// differ (an MKL that computes the batched entry differently on another CPU, or a float32
// matmul precision that sends bmm to oneDNN).
#include "shim.h"
#include "protect.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/ATen.h>
#include <torch/csrc/autograd/forward_grad.h>
#include <torch/csrc/autograd/variable.h>
#include <dlfcn.h>

#include <atomic>

namespace {

using dgemv_fn = void (*)(const char *, const int *, const int *, const double *, const double *,
                          const int *, const double *, const int *, const double *, double *,
                          const int *);
using sgemv_fn = void (*)(const char *, const int *, const int *, const float *, const float *,
                          const int *, const float *, const int *, const float *, float *,
                          const int *);

std::atomic<bool> disabled{false};
std::atomic<int64_t> fast_calls{0};

// A plain CPU tensor outside autograd: its own storage (not a functorch wrapper), no grad, no
// forward-mode tangent at any level.
bool plain(const at::Tensor &t) {
  if (!t.has_storage() || !t.device().is_cpu() || t.requires_grad() || t.is_conj() ||
      t.is_neg() || t.layout() != at::kStrided) {
    return false;
  }
  auto *meta = torch::autograd::impl::get_autograd_meta(t);
  return meta == nullptr || meta->fw_grad_ == nullptr || meta->fw_grad_->empty();
}

template <typename Fn> Fn lookup(const char *name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

template <typename T, typename Fn>
void rows(Fn gemv, const at::Tensor &a, const at::Tensor &x, at::Tensor &y, int64_t begin,
          int64_t end) {
  const int m = static_cast<int>(a.size(0));
  const int k = static_cast<int>(a.size(1));
  const T one = 1, zero = 0;
  const int inc = 1;
  const char trans = 'n';
  const T *pa = a.const_data_ptr<T>();
  const T *px = x.const_data_ptr<T>();
  T *py = y.mutable_data_ptr<T>();
  for (int64_t r = begin; r < end; ++r) {
    gemv(&trans, &m, &k, &one, pa, &m, px + r * k, &inc, &zero, py + r * m, &inc);
  }
}

template <typename T, typename Fn>
bool product(Fn gemv, const at::Tensor &a, const at::Tensor &x, at::Tensor &y) {
  const int64_t m = a.size(0), k = a.size(1);
  const int64_t n = x.numel() / k;
  // The guard: the first two rows (one when there is one: then ATen's bmm makes one gemm call)
  // through ATen's own product against the gemv.
  const int64_t g = std::min<int64_t>(n, 2);
  rows<T>(gemv, a, x, y, 0, g);
  auto first = at::matmul(a, x.reshape({n, k}).narrow(0, 0, g).unsqueeze(-1)).squeeze(-1);
  if (!at::equal(first, y.reshape({n, m}).narrow(0, 0, g))) {
    disabled.store(true);
    return false;
  }
  const int64_t grain = std::max<int64_t>(1, at::internal::GRAIN_SIZE / std::max<int64_t>(1, m * k));
  at::parallel_for(g, n, grain, [&](int64_t begin, int64_t end) {
    rows<T>(gemv, a, x, y, begin, end);
  });
  return true;
}

} // namespace

extern "C" {

char *tchdist_batch_mv_rows(const tensor a_, const tensor x_, tensor *out) {
  return tchdist::protect([&] {
    *out = nullptr;
    const at::Tensor &a = *a_;
    const at::Tensor &x = *x_;
    if (disabled.load() || !at::hasMKL() || a.dim() != 2 || x.dim() < 2 ||
        a.scalar_type() != x.scalar_type() || !plain(a) || !plain(x)) {
      return;
    }
    const int64_t m = a.size(0), k = a.size(1);
    // Column-major A (strides (1, m)), row-major x.
    if (a.stride(0) != 1 || a.stride(1) != m || !x.is_contiguous() || x.size(-1) != k || m * k < 400 || x.numel() == 0 || m > INT32_MAX || k > INT32_MAX) {
      return;
    }
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = m;
    at::Tensor y = at::empty(shape, x.options());
    bool done = false;
    if (a.scalar_type() == at::kDouble) {
      static const auto gemv = lookup<dgemv_fn>("dgemv_"); // looked up once
      done = gemv != nullptr && product<double>(gemv, a, x, y);
    } else if (a.scalar_type() == at::kFloat) {
      static const auto gemv = lookup<sgemv_fn>("sgemv_");
      done = gemv != nullptr && product<float>(gemv, a, x, y);
    }
    if (done) {
      fast_calls.fetch_add(1);
      *out = new at::Tensor(std::move(y));
    }
  });
}

void tchdist_batch_mv_stats(int64_t *calls, int *off) {
  *calls = fast_calls.load();
  *off = disabled.load() ? 1 : 0;
}

} // extern "C"
