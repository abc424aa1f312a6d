/* Int8 UNIDIRECTIONAL_SEQUENCE_LSTM: TFLite's integer 8x8_16 LSTM (int8 input, output and weights, int16 cell
 * state, gates in Q3.12 then Q0.15) for the form the converter emits for a Keras LSTM layer: four gates, no peephole,
 * projection or layer normalization, output size == cell count.
 *
 * Per time step and batch row, each gate is two matrix-vector products (input and previous output state), each with
 * its own bias (the zero points folded in by the generator) and requantization, accumulated into int16 with
 * saturation; then sigmoid (input, forget, output gates) or tanh (cell gate) in 16-bit fixed point, computed with
 * gemmlowp's polynomial and Newton-Raphson arithmetic as TFLite does, not with tables. The cell state is
 * forget * cell >> 15 plus input * cell_gate >> (30 + cell_scale), saturated, clipped; the output is
 * output_gate * tanh(cell) requantized to int8. The state arrays persist between calls (TFLite variable tensors). */
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

enum { GATE_INPUT, GATE_FORGET, GATE_CELL, GATE_OUTPUT };

/* --- gemmlowp's fixed point on int16 raw values: a value with k integer bits is raw / 2^(15 - k) --- */

static int16_t sat16(int32_t x) { return (int16_t)tm_clamp(x, INT16_MIN, INT16_MAX); }

/* round(a * b / 2^15), saturating the single overflow case a == b == INT16_MIN. */
static int16_t fx_mul(int16_t a, int16_t b) {
  if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
  const int32_t ab = (int32_t)a * (int32_t)b;
  const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
  return (int16_t)((ab + nudge) / (1 << 15));
}

static int16_t fx_div_pot(int16_t x, int exponent) { return (int16_t)tm_rounding_divide_by_pot(x, exponent); }

/* x * 2^exponent, saturating (exponent > 0) or rounding (exponent < 0). */
static int16_t fx_mul_pot(int16_t x, int exponent) {
  if (exponent < 0) return fx_div_pot(x, -exponent);
  const int32_t threshold = (1 << (15 - exponent)) - 1;
  if (x > threshold) return INT16_MAX;
  if (x < -threshold) return INT16_MIN;
  return (int16_t)(x * (1 << exponent));
}

static int16_t wrap16(int32_t x) { return (int16_t)x; }

/* An int32 gemmlowp constant as the int16 raw value (rounded division by 2^16). */
static int16_t fx_const(int32_t raw32) { return (int16_t)tm_rounding_divide_by_pot(raw32, 16); }

/* exp(a) for a in [-1/4, 0), Q0.15 in and out: Taylor series around -1/8. */
static int16_t exp_quarter(int16_t a) {
  const int16_t constant_term = fx_const(1895147668);  /* exp(-1/8) */
  const int16_t one_third = fx_const(715827883);
  const int16_t x = wrap16(a + (1 << 12));
  const int16_t x2 = fx_mul(x, x);
  const int16_t x3 = fx_mul(x2, x);
  const int16_t x4 = fx_mul(x2, x2);
  const int16_t x4_over_4 = fx_mul_pot(x4, -2);
  const int16_t poly = fx_mul_pot(wrap16(fx_mul(wrap16(x4_over_4 + x3), one_third) + x2), -1);
  return sat16(constant_term + fx_mul(constant_term, wrap16(x + poly)));
}

/* exp(a) for a <= 0 with `int_bits` integer bits; result Q0.15. */
static int16_t exp_negative(int16_t a, int int_bits) {
  static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  const int frac_bits = 15 - int_bits;
  const int16_t quarter = (int16_t)(1 << (frac_bits - 2));
  const int16_t a_mod_quarter_minus_quarter = wrap16((a & (quarter - 1)) - quarter);
  int16_t result = exp_quarter(fx_mul_pot(a_mod_quarter_minus_quarter, int_bits));
  const int16_t remainder = wrap16(a_mod_quarter_minus_quarter - a);
  for (int exponent = -2; exponent <= 4; ++exponent) {
    if (int_bits > exponent && (remainder & (1 << (frac_bits + exponent)))) {
      result = fx_mul(result, fx_const(multipliers[exponent + 2]));
    }
  }
  if (int_bits > 5 && a < fx_const(-(1 << (36 - int_bits)))) result = 0;  /* below -32 */
  return a == 0 ? INT16_MAX : result;
}

/* The Newton-Raphson reciprocal of gemmlowp: x ~ 1 / half_denominator in Q2.13. */
static int16_t reciprocal_half(int16_t a) {
  const int16_t half_denominator = (int16_t)(((int32_t)a + INT16_MAX + ((int32_t)a + INT16_MAX >= 0 ? 1 : -1)) / 2);
  int16_t x = wrap16(fx_const(1515870810) + fx_mul(half_denominator, fx_const(-1010580540)));  /* 48/17 - 32/17 d */
  for (int i = 0; i < 3; ++i) {
    const int16_t one_minus = wrap16((1 << 13) - fx_mul(half_denominator, x));
    x = wrap16(x + fx_mul_pot(fx_mul(x, one_minus), 2));
  }
  return x;
}

/* sigmoid of a Q3.12 value, Q0.15 out. */
static int16_t sigmoid_q3(int16_t a) {
  if (a == 0) return fx_const(1 << 30);
  const int16_t magnitude = a > 0 ? a : wrap16(-a);
  const int16_t positive = fx_mul_pot(reciprocal_half(exp_negative(wrap16(-magnitude), 3)), 1);  /* 1/(1+e) */
  return a > 0 ? positive : wrap16(INT16_MAX - positive);
}

/* tanh of a value with `int_bits` integer bits, Q0.15 out. */
static int16_t tanh_fx(int16_t a, int int_bits) {
  if (a == 0) return 0;
  const int16_t negative = a < 0 ? a : wrap16(-a);
  /* -tanh(n) = (1 - exp(2n)) / (1 + exp(2n)); 2n is n's raw value with one more integer bit */
  const int16_t t = fx_mul_pot(wrap16(reciprocal_half(exp_negative(negative, int_bits + 1)) - (1 << 13)), 2);
  return a < 0 ? wrap16(-t) : t;
}

/* gate (int16, saturating) += requantized(bias + weights . x) */
static void accumulate_gate(const int8_t *weights, const int32_t *bias, int32_t multiplier, int32_t shift,
                            const int8_t *x, int32_t n_x, int32_t n_cell, int16_t *gate) {
  for (int32_t row = 0; row < n_cell; ++row) {
    const int8_t *w = weights + row * n_x;
    int32_t acc = bias[row];
    for (int32_t col = 0; col < n_x; ++col) acc += (int32_t)x[col] * (int32_t)w[col];
    gate[row] = sat16(tm_requantize(acc, multiplier, shift) + gate[row]);
  }
}

static void lstm_step(const tm_lstm_params *p, const int8_t *input_weights, const int8_t *recurrent_weights,
                      const int32_t *biases, const int8_t *input, int8_t *output_state, int16_t *cell_state,
                      int16_t *gates) {
  const int32_t n_cell = p->n_cell;
  for (int g = 0; g < 4; ++g) {
    int16_t *gate = gates + g * n_cell;
    for (int32_t c = 0; c < n_cell; ++c) gate[c] = 0;
    accumulate_gate(input_weights + g * n_cell * p->n_input, biases + g * n_cell, p->input_multiplier[g],
                    p->input_shift[g], input, p->n_input, n_cell, gate);
    accumulate_gate(recurrent_weights + g * n_cell * n_cell, biases + (4 + g) * n_cell, p->recurrent_multiplier[g],
                    p->recurrent_shift[g], output_state, n_cell, n_cell, gate);
    for (int32_t c = 0; c < n_cell; ++c) gate[c] = g == GATE_CELL ? tanh_fx(gate[c], 3) : sigmoid_q3(gate[c]);
  }
  const int16_t *input_gate = gates + GATE_INPUT * n_cell;
  const int16_t *forget_gate = gates + GATE_FORGET * n_cell;
  const int16_t *cell_gate = gates + GATE_CELL * n_cell;
  const int16_t *output_gate = gates + GATE_OUTPUT * n_cell;
  for (int32_t c = 0; c < n_cell; ++c) {
    const int16_t kept = (int16_t)tm_rounding_divide_by_pot((int32_t)forget_gate[c] * cell_state[c], 15);
    const int16_t added = (int16_t)tm_rounding_divide_by_pot((int32_t)input_gate[c] * cell_gate[c],
                                                             30 + p->cell_scale);
    int16_t cell = sat16((int32_t)kept + added);
    if (p->cell_clip > 0) cell = (int16_t)tm_clamp(cell, -p->cell_clip, p->cell_clip);
    cell_state[c] = cell;
    const int32_t product = (int32_t)output_gate[c] * tanh_fx(cell, 15 + p->cell_scale);
    output_state[c] = (int8_t)tm_clamp(tm_requantize(product, p->hidden_multiplier, p->hidden_shift) + p->hidden_zp,
                                       INT8_MIN, INT8_MAX);
  }
}

void tm_lstm_s8(const tm_lstm_params *p, const int8_t *input_weights, const int8_t *recurrent_weights,
                const int32_t *biases, const int8_t *input, int8_t *output_state, int16_t *cell_state,
                int8_t *output, int16_t *scratch) {
  for (int32_t b = 0; b < p->n_batch; ++b) {
    int8_t *h = output_state + b * p->n_cell;
    int16_t *cell = cell_state + b * p->n_cell;
    for (int32_t t = 0; t < p->n_time; ++t) {
      const int32_t row = p->time_major ? t * p->n_batch + b : b * p->n_time + t;
      lstm_step(p, input_weights, recurrent_weights, biases, input + row * p->n_input, h, cell, scratch);
      for (int32_t c = 0; c < p->n_cell; ++c) output[row * p->n_cell + c] = h[c];
    }
  }
}
