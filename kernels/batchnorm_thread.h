// Per-thread work of BatchNorm's CUDA kernels (kernels/batchnorm.h): the column reductions and
// block programs that the kernels run and the CPU tests sweep over the launch grid.
// Tested by tests/kernels/test_batchnorm.cpp.
#pragma once

#include "kernels/batchnorm.h"
#include "kernels/columns.h"

namespace vggtl {

// CUDA geometry and work, shared with the CPU sweep test. Train forward and backward: the column
// reduction of kernels/columns.h (block (kColumnTileX, kColumnTileY), one block per
// kColumnTileX columns, thread (tx, ty) on rows ty, ty + kColumnTileY, ...), then the same
// threads write y or dx.
VGGTL_HD double bn_partial_sqdev(const float* x, int64_t rows, int64_t cols, int64_t col, int ty,
                                 double mean) {
  double s = 0;
  for (int64_t r = ty; r < rows; r += kColumnTileY) {
    const double d = static_cast<double>(x[r * cols + col]) - mean;
    s += d * d;
  }
  return s;
}

VGGTL_HD double bn_inv_std(double var, double eps) { return 1.0 / sqrt(var + eps); }

// y = x*s + (beta - mean*s), s = gamma*inv_std, in float, for the rows of thread ty.
VGGTL_HD void bn_normalize_rows(float* y, const float* x, int64_t rows, int64_t cols, int64_t col,
                                int ty, float gamma, float beta, float mean, float inv_std) {
  const float s = gamma * inv_std;
  const float shift = beta - mean * s;
  for (int64_t r = ty; r < rows; r += kColumnTileY) y[r * cols + col] = x[r * cols + col] * s + shift;
}

VGGTL_HD void bn_partial_grad_sums(const float* dy, const float* x, int64_t rows, int64_t cols,
                                   int64_t col, int ty, double mean, double inv_std, double* sum_dy,
                                   double* sum_dy_xhat) {
  double a = 0, b = 0;
  for (int64_t r = ty; r < rows; r += kColumnTileY) {
    const double g = static_cast<double>(dy[r * cols + col]);
    a += g;
    b += g * (static_cast<double>(x[r * cols + col]) - mean) * inv_std;
  }
  *sum_dy = a;
  *sum_dy_xhat = b;
}

VGGTL_HD void bn_backward_rows(float* dx, const float* dy, const float* x, int64_t rows,
                               int64_t cols, int64_t col, int ty, double gamma, double mean,
                               double inv_std, double sum_dy, double sum_dy_xhat,
                               bool batch_stats) {
  const double n = static_cast<double>(rows);
  for (int64_t r = ty; r < rows; r += kColumnTileY) {
    const double g = static_cast<double>(dy[r * cols + col]);
    double v;
    if (batch_stats) {
      const double xhat = (static_cast<double>(x[r * cols + col]) - mean) * inv_std;
      v = gamma * inv_std / n * (n * g - sum_dy - xhat * sum_dy_xhat);
    } else {
      v = g * gamma * inv_std;
    }
    dx[r * cols + col] = static_cast<float>(v);
  }
}

// Train forward as a block program (kernels/block_phases.h), grid column_tile_blocks(cols):
// 0 column sums into shared memory; 1 (ty = 0) the mean; 2 sums of squared deviations from it
// (two passes, as the CPU twin); 3 (ty = 0) inv_std, the saved and moving statistics; 4 y.
struct BnTrainForwardBlock {
  static constexpr int kThreadsX = kColumnTileX;
  static constexpr int kThreadsY = kColumnTileY;
  static constexpr int kPhases = 5;
  struct Shared {
    ColumnPartials sums;
    double mean[kColumnTileX];
    double inv_std[kColumnTileX];
  };

  float* y;
  float* save_mean;
  float* save_inv_std;
  float* moving_mean;
  float* moving_var;
  const float* x;
  const float* gamma;
  const float* beta;
  int64_t rows;
  int64_t cols;
  double eps;
  float decay;

  VGGTL_HD void operator()(Shared& s, int phase, int64_t block, int tx, int ty) const {
    const int64_t col = block * kColumnTileX + tx;
    const bool live = col < cols;
    const double n = static_cast<double>(rows);
    switch (phase) {
      case 0:
        s.sums.partial[ty][tx] = live ? column_partial_sum(x, rows, cols, col, ty) : 0.0;
        break;
      case 1:
        if (ty == 0) s.mean[tx] = column_total(s.sums, tx) / n;
        break;
      case 2:
        s.sums.partial[ty][tx] = live ? bn_partial_sqdev(x, rows, cols, col, ty, s.mean[tx]) : 0.0;
        break;
      case 3:
        if (ty == 0) {
          const double var = column_total(s.sums, tx) / n;  // biased, as tf.nn.moments
          s.inv_std[tx] = bn_inv_std(var, eps);
          if (live) {
            const float mean_f = static_cast<float>(s.mean[tx]);
            save_mean[col] = mean_f;
            save_inv_std[col] = static_cast<float>(s.inv_std[tx]);
            moving_mean[col] = bn_moving_update(moving_mean[col], mean_f, decay);
            moving_var[col] = bn_moving_update(moving_var[col], static_cast<float>(var), decay);
          }
        }
        break;
      default:
        if (live)
          bn_normalize_rows(y, x, rows, cols, col, ty, gamma[col], beta[col],
                            static_cast<float>(s.mean[tx]), static_cast<float>(s.inv_std[tx]));
        break;
    }
  }
};

// Backward as a block program, grid column_tile_blocks(cols): 0 the partial sums of dy and
// dy*xhat into shared memory; 1 every thread adds its column's partials in order, ty = 0 writes
// dbeta and dgamma, and each thread its rows of dx. dx, dgamma, dbeta may each be null.
struct BnBackwardBlock {
  static constexpr int kThreadsX = kColumnTileX;
  static constexpr int kThreadsY = kColumnTileY;
  static constexpr int kPhases = 2;
  struct Shared {
    ColumnPartials dy;
    ColumnPartials dy_xhat;
  };

  float* dx;
  float* dgamma;
  float* dbeta;
  const float* dy;
  const float* x;
  const float* gamma;
  const float* mean;
  const float* inv_std;
  int64_t rows;
  int64_t cols;
  bool batch_stats;

  VGGTL_HD void operator()(Shared& s, int phase, int64_t block, int tx, int ty) const {
    const int64_t col = block * kColumnTileX + tx;
    const bool live = col < cols;
    if (phase == 0) {
      double a = 0, b = 0;
      if (live)
        bn_partial_grad_sums(dy, x, rows, cols, col, ty, static_cast<double>(mean[col]),
                             static_cast<double>(inv_std[col]), &a, &b);
      s.dy.partial[ty][tx] = a;
      s.dy_xhat.partial[ty][tx] = b;
      return;
    }
    if (!live) return;
    const double sum_dy = column_total(s.dy, tx);
    const double sum_dy_xhat = column_total(s.dy_xhat, tx);
    if (ty == 0) {
      if (dbeta) dbeta[col] = static_cast<float>(sum_dy);
      if (dgamma) dgamma[col] = static_cast<float>(sum_dy_xhat);
    }
    if (dx)
      bn_backward_rows(dx, dy, x, rows, cols, col, ty, static_cast<double>(gamma[col]),
                       static_cast<double>(mean[col]), static_cast<double>(inv_std[col]), sum_dy,
                       sum_dy_xhat, batch_stats);
  }
};

// Eval forward: block (kBnEvalThreads), grid (ceil(cols / kBnEvalThreads), row blocks); one
// thread per column, rows strided over grid.y; row block 0 also writes the saved statistics.
constexpr int kBnEvalThreads = 256;
VGGTL_HD void bn_eval_thread(float* y, float* save_mean, float* save_inv_std, const float* x,
                             const float* gamma, const float* beta, const float* moving_mean,
                             const float* moving_var, int64_t rows, int64_t cols, double eps,
                             int64_t block_x, int64_t block_y, int64_t grid_y, int thread) {
  const int64_t col = block_x * kBnEvalThreads + thread;
  if (col >= cols) return;
  const float inv_std = static_cast<float>(bn_inv_std(static_cast<double>(moving_var[col]), eps));
  if (block_y == 0) {
    save_mean[col] = moving_mean[col];
    save_inv_std[col] = inv_std;
  }
  for (int64_t r = block_y; r < rows; r += grid_y) {
    const float s = gamma[col] * inv_std;
    y[r * cols + col] = x[r * cols + col] * s + (beta[col] - moving_mean[col] * s);
  }
}

}  // namespace vggtl
