// Shared by tests/functional_*.rs through `include!` (one copy of the function table, the
// random cases, the Rust interpreter and the comparison with Python), so each test crate keeps
// its own items private and compiles only what it uses.
// ---------------------------------------------------------------------------------------------
// The function table (tests/pyref/functional_cases.py defines the same functions).

/// How a function's inputs are shaped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shapes {
    /// One tensor of rank 0..2.
    One,
    /// Two tensors of one shape, rank 0..2.
    SameTwo,
    /// Two tensors of independent shapes, rank 0..2 each.
    IndependentTwo,
    /// One square matrix.
    Square,
    /// The mean of a fixed MultivariateNormal: shape (d,).
    Mvn,
    /// `a` of shape (m, k) or (k,), `b` of shape (k, n).
    Matmul,
    /// No inputs at all.
    Nullary,
    /// A matrix (N, C) with N >= 2, as batch_norm in training mode wants.
    Batch,
    /// One tensor of rank 1..2.
    AtLeastVector,
}

#[derive(Clone, Copy, Debug)]
struct Func {
    name: &'static str,
    shapes: Shapes,
    /// Number of outputs (a tuple when 2).
    outputs: usize,
    /// One output with one element: usable by `hessian`, `vhp` and `hvp`.
    scalar: bool,
}

const fn func(name: &'static str, shapes: Shapes, outputs: usize, scalar: bool) -> Func {
    Func {
        name,
        shapes,
        outputs,
        scalar,
    }
}

const FUNCS: [Func; 27] = [
    func("quartic", Shapes::One, 1, true),
    func("elementwise", Shapes::One, 1, false),
    func("quadratic", Shapes::One, 1, true),
    func("linear", Shapes::One, 1, false),
    func("linear_sum", Shapes::One, 1, true),
    func("constant", Shapes::One, 1, false),
    func("log_softmax", Shapes::One, 1, false),
    func("log_softmax_sum", Shapes::One, 1, true),
    func("softmax_sum", Shapes::One, 1, true),
    func("logsigmoid", Shapes::One, 1, false),
    func("logsigmoid_sum", Shapes::One, 1, true),
    func("layer_norm_sum", Shapes::AtLeastVector, 1, true),
    func("batch_norm_sum", Shapes::Batch, 1, true),
    func("nested_forward", Shapes::One, 1, true),
    func("trace_cube", Shapes::Square, 1, true),
    func("nullary", Shapes::Nullary, 1, false),
    func("nullary_sum", Shapes::Nullary, 1, true),
    func("two_outputs", Shapes::SameTwo, 2, false),
    func("pair_scalar", Shapes::SameTwo, 1, true),
    func("separable", Shapes::IndependentTwo, 1, true),
    func("unused_input", Shapes::IndependentTwo, 1, true),
    func("leaf_output", Shapes::One, 2, false),
    func("leaf_weight", Shapes::IndependentTwo, 1, true),
    func("mvn_log_prob", Shapes::Mvn, 1, false),
    func("mvn_log_prob_sum", Shapes::Mvn, 1, true),
    func("matmul_chain", Shapes::Matmul, 1, false),
    func("matmul_chain_sum", Shapes::Matmul, 1, true),
];

fn find(name: &str) -> Func {
    *FUNCS
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no function {name}"))
}

/// The fixed parameters of the MVN functions: `scale_tril` (d x d) and `samples` (n x d).
#[derive(Clone, Debug)]
struct MvnConsts {
    d: i64,
    n: i64,
    scale_tril: Vec<f64>,
    samples: Vec<f64>,
}

/// A Python number in a tensor expression (`x * 3`): PyTorch wraps it in a 0-dim tensor and
/// calls the Tensor overload (`mul.Tensor`, recorded as `MulBackward0`, with mul.Tensor's
/// forward-AD formula), not `mul.Scalar`. A 0-dim tensor of the other operand's dtype
/// computes the same bits and records the same graph.
fn number(value: f64, kind: Kind) -> Tensor {
    Tensor::from(value).to_kind(kind)
}

/// The function `name` of the table, op for op as in functional_cases.py.
fn call(name: &str, k: Kind, c: Option<&MvnConsts>, x: &[Tensor]) -> tchdist::Result<Vec<Tensor>> {
    let one = |t: Tensor| Ok(vec![t]);
    match name {
        // (x**4).sum() + (xf[0] * xf[-1]) ** 2
        "quartic" => {
            let xf = x[0].f_reshape([-1])?;
            let corner = xf.f_select(0, 0)?.f_mul(&xf.f_select(0, -1)?)?;
            one(x[0]
                .f_pow_tensor_scalar(4i64)?
                .f_sum(None::<Kind>)?
                .f_add(&corner.f_pow_tensor_scalar(2i64)?)?)
        }
        // x.sin() * x.exp()
        "elementwise" => one(x[0].f_sin()?.f_mul(&x[0].f_exp()?)?),
        // (x * x).sum()
        "quadratic" => one(x[0].f_mul(&x[0])?.f_sum(None::<Kind>)?),
        // x * 3 + 1
        "linear" => one(x[0].f_mul(&number(3.0, k))?.f_add(&number(1.0, k))?),
        // (x * 3).sum()
        "linear_sum" => one(x[0].f_mul(&number(3.0, k))?.f_sum(None::<Kind>)?),
        // torch.ones(3, dtype=x.dtype)
        "constant" => one(Tensor::f_ones([3], (k, Device::Cpu))?),
        // x.log_softmax(-1)
        "log_softmax" => one(x[0].f_log_softmax(-1, None::<Kind>)?),
        // (x.log_softmax(-1) * x).sum()
        "log_softmax_sum" => one(x[0]
            .f_log_softmax(-1, None::<Kind>)?
            .f_mul(&x[0])?
            .f_sum(None::<Kind>)?),
        // (x.softmax(-1) * x).sum()
        "softmax_sum" => one(x[0]
            .f_softmax(-1, None::<Kind>)?
            .f_mul(&x[0])?
            .f_sum(None::<Kind>)?),
        // F.logsigmoid(x)
        "logsigmoid" => one(x[0].f_log_sigmoid()?),
        // (F.logsigmoid(x) * x).sum()
        "logsigmoid_sum" => one(x[0].f_log_sigmoid()?.f_mul(&x[0])?.f_sum(None::<Kind>)?),
        // (F.layer_norm(x, x.shape[-1:]) * x).sum()
        "layer_norm_sum" => {
            let last = *x[0].size().last().expect("rank >= 1");
            one(x[0]
                .f_layer_norm([last], None::<&Tensor>, None::<&Tensor>, 1e-5, true)?
                .f_mul(&x[0])?
                .f_sum(None::<Kind>)?)
        }
        // (F.batch_norm(x, None, None, training=True) * x).sum()
        "batch_norm_sum" => one(x[0]
            .f_batch_norm(
                None::<&Tensor>,
                None::<&Tensor>,
                None::<&Tensor>,
                None::<&Tensor>,
                true,
                0.1,
                1e-5,
                true,
            )?
            .f_mul(&x[0])?
            .f_sum(None::<Kind>)?),
        // F.jacobian(torch.sin, x, vectorize=True, strategy="forward-mode").sum()
        "nested_forward" => {
            let opts = JacobianOptions {
                vectorize: true,
                strategy: Strategy::ForwardMode,
                ..Default::default()
            };
            one(jacobian(|t| Ok(t.f_sin()?), &x[0], &opts)?.f_sum(None::<Kind>)?)
        }
        // torch.trace(x @ x @ x)
        "trace_cube" => one(x[0].f_matmul(&x[0])?.f_matmul(&x[0])?.f_trace()?),
        // torch.ones(2, dtype=dtype, requires_grad=True) * 2 (.sum())
        "nullary" | "nullary_sum" => {
            let out = Tensor::f_ones([2], (k, Device::Cpu))?
                .set_requires_grad(true)
                .f_mul(&number(2.0, k))?;
            if name == "nullary" {
                one(out)
            } else {
                one(out.f_sum(None::<Kind>)?)
            }
        }
        // (x * y, (x**2).sum() + y.sin().sum())
        "two_outputs" => Ok(vec![
            x[0].f_mul(&x[1])?,
            x[0].f_pow_tensor_scalar(2i64)?
                .f_sum(None::<Kind>)?
                .f_add(&x[1].f_sin()?.f_sum(None::<Kind>)?)?,
        ]),
        // ((x**2) * y.sin()).sum() + (x * y).exp().sum()
        "pair_scalar" => one(x[0]
            .f_pow_tensor_scalar(2i64)?
            .f_mul(&x[1].f_sin()?)?
            .f_sum(None::<Kind>)?
            .f_add(&x[0].f_mul(&x[1])?.f_exp()?.f_sum(None::<Kind>)?)?),
        // (x**3).sum() + (y**3).sum()
        "separable" => one(x[0]
            .f_pow_tensor_scalar(3i64)?
            .f_sum(None::<Kind>)?
            .f_add(&x[1].f_pow_tensor_scalar(3i64)?.f_sum(None::<Kind>)?)?),
        // (x * x.sin()).sum(); y unused
        "unused_input" => one(x[0].f_mul(&x[0].f_sin()?)?.f_sum(None::<Kind>)?),
        // (x.sin(), torch.zeros((), dtype=x.dtype, requires_grad=True))
        "leaf_output" => Ok(vec![
            x[0].f_sin()?,
            Tensor::f_zeros([] as [i64; 0], (k, Device::Cpu))?.set_requires_grad(true),
        ]),
        // (x**3).sum() + (y * torch.full_like(y, 0.5).requires_grad_()).sum()
        "leaf_weight" => {
            let w = x[1].f_full_like(0.5f64)?.f_requires_grad_(true)?;
            one(x[0]
                .f_pow_tensor_scalar(3i64)?
                .f_sum(None::<Kind>)?
                .f_add(&x[1].f_mul(&w)?.f_sum(None::<Kind>)?)?)
        }
        // MultivariateNormal(mu, scale_tril=L).log_prob(samples) (.sum())
        "mvn_log_prob" | "mvn_log_prob_sum" => {
            let c = c.expect("MVN constants");
            let l = Tensor::from_slice(&c.scale_tril)
                .f_reshape([c.d, c.d])?
                .f_to_kind(k)?;
            let samples = Tensor::from_slice(&c.samples)
                .f_reshape([c.n, c.d])?
                .f_to_kind(k)?;
            let lp = MultivariateNormal::from_scale_tril(&x[0], &l)?.log_prob(&samples)?;
            if name == "mvn_log_prob" {
                one(lp)
            } else {
                one(lp.f_sum(None::<Kind>)?)
            }
        }
        // torch.tanh(a @ b) @ b.t() (.sum())
        "matmul_chain" | "matmul_chain_sum" => {
            let out = x[0].f_matmul(&x[1])?.f_tanh()?.f_matmul(&x[1].f_tr()?)?;
            if name == "matmul_chain" {
                one(out)
            } else {
                one(out.f_sum(None::<Kind>)?)
            }
        }
        _ => panic!("no function {name}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Cases.

/// A tensor sent to both sides: float64 values (4 decimals, exact in JSON), a shape, and
/// whether it requires grad.
#[derive(Clone, Debug, Default)]
struct Spec {
    shape: Vec<i64>,
    values: Vec<f64>,
    requires_grad: bool,
}

impl Spec {
    fn random(rng: &mut Rng, shape: &[i64], lo: f64, hi: f64) -> Spec {
        let n: i64 = shape.iter().product();
        Spec {
            shape: shape.to_vec(),
            values: (0..n).map(|_| rng.real(lo, hi)).collect(),
            requires_grad: false,
        }
    }

    fn requiring_grad(mut self, r: bool) -> Spec {
        self.requires_grad = r;
        self
    }

    fn numel(&self) -> i64 {
        self.shape.iter().product()
    }

    fn to_json(&self) -> Value {
        json!({"shape": self.shape, "values": self.values, "requires_grad": self.requires_grad})
    }

    fn tensor(&self, kind: Kind) -> Tensor {
        let t = Tensor::from_slice(&self.values)
            .reshape(self.shape.as_slice())
            .to_kind(kind);
        if self.requires_grad {
            t.set_requires_grad(true)
        } else {
            t
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Grad,
    Jacobian,
    Hessian,
    Vjp,
    Jvp,
    Vhp,
    Hvp,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::Grad => "grad",
            Family::Jacobian => "jacobian",
            Family::Hessian => "hessian",
            Family::Vjp => "vjp",
            Family::Jvp => "jvp",
            Family::Vhp => "vhp",
            Family::Hvp => "hvp",
        }
    }
}

/// The keyword arguments of every family (each family reads its own).
#[derive(Clone, Debug, Default)]
struct Opts {
    create_graph: bool,
    strict: bool,
    vectorize: bool,
    forward: bool,
    retain_graph: Option<bool>,
    allow_unused: Option<bool>,
    is_grads_batched: bool,
    materialize_grads: bool,
}

#[derive(Clone, Debug)]
struct Case {
    family: Family,
    func: &'static str,
    f32: bool,
    inputs: Vec<Spec>,
    v: Option<Vec<Spec>>,
    /// Python passes the inputs as a tuple (always with two inputs; a 1-tuple otherwise).
    tuple_inputs: bool,
    /// Python's function wraps its single output in a 1-tuple.
    tuple_outputs: bool,
    /// Rust calls `jacobian`/`hessian` (one tensor) rather than the `_multi` forms.
    single_api: bool,
    opts: Opts,
    /// `grad`: which outputs to differentiate, with respect to which inputs, and the vectors.
    grad_of: Vec<usize>,
    wrt: Vec<usize>,
    grad_outputs: Option<Vec<Option<Spec>>>,
    consts: Option<MvnConsts>,
    /// The error table's name for the case.
    label: &'static str,
}

impl Case {
    fn new(family: Family, func: &'static str, f32: bool, inputs: Vec<Spec>) -> Case {
        Case {
            family,
            func,
            f32,
            tuple_inputs: inputs.len() != 1,
            inputs,
            v: None,
            tuple_outputs: false,
            single_api: false,
            opts: Opts::default(),
            grad_of: vec![],
            wrt: vec![],
            grad_outputs: None,
            consts: None,
            label: "",
        }
    }

    fn kind(&self) -> Kind {
        if self.f32 {
            Kind::Float
        } else {
            Kind::Double
        }
    }

    fn to_json(&self) -> Value {
        let o = &self.opts;
        let strategy = if o.forward {
            "forward-mode"
        } else {
            "reverse-mode"
        };
        let opts = match self.family {
            Family::Grad => {
                let mut m = json!({
                    "create_graph": o.create_graph,
                    "is_grads_batched": o.is_grads_batched,
                    "materialize_grads": o.materialize_grads,
                });
                if let Some(r) = o.retain_graph {
                    m["retain_graph"] = json!(r);
                }
                if let Some(a) = o.allow_unused {
                    m["allow_unused"] = json!(a);
                }
                m
            }
            Family::Jacobian => json!({
                "create_graph": o.create_graph, "strict": o.strict,
                "vectorize": o.vectorize, "strategy": strategy,
            }),
            Family::Hessian => json!({
                "create_graph": o.create_graph, "strict": o.strict,
                "vectorize": o.vectorize, "outer_jacobian_strategy": strategy,
            }),
            _ => json!({"create_graph": o.create_graph, "strict": o.strict}),
        };
        let mut j = json!({
            "family": self.family.name(),
            "func": self.func,
            "dtype": if self.f32 { "f32" } else { "f64" },
            "inputs": self.inputs.iter().map(Spec::to_json).collect::<Vec<_>>(),
            "tuple_inputs": self.tuple_inputs,
            "tuple_outputs": self.tuple_outputs,
            "opts": opts,
            "grad_of": self.grad_of,
            "wrt": self.wrt,
        });
        if let Some(v) = &self.v {
            j["v"] = json!(v.iter().map(Spec::to_json).collect::<Vec<_>>());
        }
        if let Some(g) = &self.grad_outputs {
            j["grad_outputs"] = json!(g
                .iter()
                .map(|s| s.as_ref().map(Spec::to_json))
                .collect::<Vec<_>>());
        }
        if let Some(c) = &self.consts {
            j["consts"] = json!({
                "d": c.d, "n": c.n, "scale_tril": c.scale_tril, "samples": c.samples,
            });
        }
        j
    }

    fn describe(&self) -> String {
        let shapes: Vec<&[i64]> = self.inputs.iter().map(|s| s.shape.as_slice()).collect();
        format!(
            "{}{}({}) {} inputs={:?} v={:?} tuple_in={} tuple_out={} single_api={} {:?}",
            if self.label.is_empty() {
                String::new()
            } else {
                format!("[{}] ", self.label)
            },
            self.family.name(),
            self.func,
            if self.f32 { "f32" } else { "f64" },
            shapes,
            self.v
                .as_ref()
                .map(|v| v.iter().map(|s| s.shape.clone()).collect::<Vec<_>>()),
            self.tuple_inputs,
            self.tuple_outputs,
            self.single_api,
            self.opts,
        )
    }
}

/// Random dimension sizes 1..=3 for a tensor of rank 0..=2.
fn random_shape(rng: &mut Rng) -> Vec<i64> {
    let rank = rng.int(0, 2);
    (0..rank).map(|_| rng.int(1, 3)).collect()
}

/// Random inputs (and constants) for `f`.
fn random_inputs(rng: &mut Rng, f: Func) -> (Vec<Spec>, Option<MvnConsts>) {
    let r = |rng: &mut Rng, shape: &[i64]| Spec::random(rng, shape, -1.5, 1.5);
    match f.shapes {
        Shapes::One => {
            let s = random_shape(rng);
            (vec![r(rng, &s)], None)
        }
        Shapes::SameTwo => {
            let s = random_shape(rng);
            (vec![r(rng, &s), r(rng, &s)], None)
        }
        Shapes::IndependentTwo => {
            let (s, t) = (random_shape(rng), random_shape(rng));
            (vec![r(rng, &s), r(rng, &t)], None)
        }
        Shapes::Square => {
            let n = rng.int(1, 3);
            (vec![r(rng, &[n, n])], None)
        }
        Shapes::Mvn => {
            let d = rng.int(1, 4);
            let n = rng.int(1, 4);
            let scale_tril = random_scale_tril(rng, d as usize);
            let samples = (0..n * d).map(|_| rng.real(-3.0, 3.0)).collect();
            let mu = Spec::random(rng, &[d], -2.0, 2.0);
            (
                vec![mu],
                Some(MvnConsts {
                    d,
                    n,
                    scale_tril,
                    samples,
                }),
            )
        }
        Shapes::Nullary => (vec![], None),
        Shapes::Batch => {
            let s = [rng.int(2, 4), rng.int(1, 3)];
            (vec![r(rng, &s)], None)
        }
        Shapes::AtLeastVector => {
            let s: Vec<i64> = (0..rng.int(1, 2)).map(|_| rng.int(1, 3)).collect();
            (vec![r(rng, &s)], None)
        }
        Shapes::Matmul => {
            let (m, k, n) = (rng.int(1, 3), rng.int(1, 3), rng.int(1, 3));
            let a: Vec<i64> = if rng.int(0, 3) == 0 {
                vec![k]
            } else {
                vec![m, k]
            };
            (vec![r(rng, &a), r(rng, &[k, n])], None)
        }
    }
}

/// The shapes `f` returns for these inputs.
fn output_shapes(f: Func, inputs: &[Spec]) -> Vec<Vec<i64>> {
    match f.name {
        _ if f.scalar => vec![vec![]],
        "elementwise" | "linear" | "log_softmax" | "logsigmoid" => vec![inputs[0].shape.clone()],
        "constant" => vec![vec![3]],
        "nullary" => vec![vec![2]],
        "two_outputs" => vec![inputs[0].shape.clone(), vec![]],
        "leaf_output" => vec![inputs[0].shape.clone(), vec![]],
        "matmul_chain" => {
            let (a, b) = (&inputs[0].shape, &inputs[1].shape);
            let mut s = a[..a.len() - 1].to_vec();
            s.push(b[0]);
            vec![s]
        }
        _ => panic!("no output shape for {}", f.name),
    }
}

/// Output shapes, with the MVN functions' sample count from the constants.
fn outputs_of(f: Func, inputs: &[Spec], consts: Option<&MvnConsts>) -> Vec<Vec<i64>> {
    if f.name == "mvn_log_prob" {
        return vec![vec![consts.expect("MVN constants").n]];
    }
    output_shapes(f, inputs)
}

/// `count` random cases of `family`, over every eligible function in turn, both dtypes.
fn random_cases(family: Family, count: usize, seed: u64) -> Vec<Case> {
    let mut rng = Rng::new(seed);
    let eligible: Vec<Func> = FUNCS
        .iter()
        .copied()
        .filter(|f| match family {
            Family::Hessian | Family::Vhp | Family::Hvp => f.scalar,
            // An output that does not require grad is an error for autograd.grad itself, as are
            // no inputs: those are in the error table.
            Family::Grad => f.name != "constant" && f.shapes != Shapes::Nullary,
            _ => f.shapes != Shapes::Nullary,
        })
        .collect();
    (0..count)
        .map(|i| {
            let f = eligible[i % eligible.len()];
            let f32 = (i / eligible.len()) % 2 == (i % 2);
            let (mut inputs, consts) = random_inputs(&mut rng, f);
            let mut case = Case::new(family, f.name, f32, vec![]);
            case.consts = consts;
            let outs = outputs_of(f, &inputs, case.consts.as_ref());
            let o = &mut case.opts;
            match family {
                Family::Jacobian | Family::Hessian => {
                    // Loop, vectorized reverse, vectorized forward in turn.
                    match rng.int(0, 2) {
                        0 => {}
                        1 => o.vectorize = true,
                        _ => {
                            o.vectorize = true;
                            o.forward = true;
                        }
                    }
                    o.create_graph = !o.forward && rng.int(0, 1) == 1;
                    o.strict = !o.vectorize && rng.int(0, 5) == 0;
                }
                Family::Grad => {
                    o.create_graph = rng.int(0, 1) == 1;
                    o.is_grads_batched = rng.int(0, 3) == 0;
                    o.retain_graph = match rng.int(0, 3) {
                        0 if !o.create_graph => Some(false),
                        1 => Some(true),
                        _ => None,
                    };
                    o.materialize_grads = rng.int(0, 4) == 0;
                    o.allow_unused = match rng.int(0, 3) {
                        0 => Some(true),
                        1 if !o.materialize_grads => Some(false),
                        _ => None,
                    };
                }
                _ => {
                    o.create_graph = rng.int(0, 1) == 1;
                    o.strict = rng.int(0, 5) == 0;
                }
            }
            let create_graph = o.create_graph;
            // Inputs that require grad take the `view_as` branch of `_grad_preprocess` and
            // carry the graph back to the caller.
            for s in &mut inputs {
                s.requires_grad =
                    family == Family::Grad || rng.int(0, 3) < if create_graph { 2 } else { 1 };
            }
            if inputs.len() == 1 {
                case.tuple_inputs = rng.int(0, 2) == 0;
            } else {
                case.tuple_inputs = true;
            }
            if f.outputs == 1 && matches!(family, Family::Jacobian | Family::Vjp | Family::Jvp) {
                case.tuple_outputs = rng.int(0, 3) == 0;
            }
            case.single_api = !case.tuple_inputs
                && !case.tuple_outputs
                && f.outputs == 1
                && matches!(family, Family::Jacobian | Family::Hessian)
                && rng.int(0, 1) == 1;
            let vec_rg = |rng: &mut Rng| create_graph && rng.int(0, 2) == 0;
            match family {
                Family::Vjp => {
                    let may_omit = outs.len() == 1 && outs[0].iter().product::<i64>() == 1;
                    if !(may_omit && rng.int(0, 2) == 0) {
                        case.v = Some(
                            outs.iter()
                                .map(|s| {
                                    let rg = vec_rg(&mut rng);
                                    Spec::random(&mut rng, s, -1.0, 1.0).requiring_grad(rg)
                                })
                                .collect(),
                        );
                    }
                }
                Family::Jvp | Family::Vhp | Family::Hvp => {
                    let may_omit = inputs.len() == 1 && inputs[0].numel() == 1;
                    if !(may_omit && rng.int(0, 2) == 0) {
                        case.v = Some(
                            inputs
                                .iter()
                                .map(|s| {
                                    let rg = vec_rg(&mut rng);
                                    Spec::random(&mut rng, &s.shape, -1.0, 1.0).requiring_grad(rg)
                                })
                                .collect(),
                        );
                    }
                }
                Family::Grad => {
                    case.grad_of = (0..outs.len()).collect();
                    if outs.len() == 2 && rng.int(0, 2) == 0 {
                        case.grad_of = vec![rng.int(0, 1) as usize];
                    }
                    case.wrt = (0..inputs.len()).collect();
                    if inputs.len() == 2 && rng.int(0, 2) == 0 {
                        case.wrt = vec![rng.int(0, 1) as usize];
                    }
                    let batched = case.opts.is_grads_batched;
                    let batch = rng.int(1, 3);
                    let explicit = batched || rng.int(0, 2) > 0;
                    if explicit {
                        case.grad_outputs = Some(
                            case.grad_of
                                .iter()
                                .map(|&k| {
                                    let s = &outs[k];
                                    if !batched && s.is_empty() && rng.int(0, 2) == 0 {
                                        return None; // implicit ones for a scalar
                                    }
                                    let mut shape = s.clone();
                                    if batched {
                                        shape.insert(0, batch);
                                    }
                                    let rg = vec_rg(&mut rng);
                                    Some(
                                        Spec::random(&mut rng, &shape, -1.0, 1.0)
                                            .requiring_grad(rg),
                                    )
                                })
                                .collect(),
                        );
                    }
                }
                _ => {}
            }
            case.inputs = inputs;
            case
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Running a case in Rust.

struct Outcome {
    outputs: Vec<Tensor>,
    results: Vec<Option<Tensor>>,
    second: Option<Vec<Option<Tensor>>>,
}

fn run_rust(case: &Case) -> tchdist::Result<Outcome> {
    let kind = case.kind();
    let inputs: Vec<Tensor> = case.inputs.iter().map(|s| s.tensor(kind)).collect();
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let v: Option<Vec<Tensor>> = case
        .v
        .as_ref()
        .map(|v| v.iter().map(|s| s.tensor(kind)).collect());
    let v_refs: Option<Vec<&Tensor>> = v.as_ref().map(|v| v.iter().collect());
    let consts = case.consts.as_ref();
    let name = case.func;
    let o = &case.opts;
    let strategy = if o.forward {
        Strategy::ForwardMode
    } else {
        Strategy::ReverseMode
    };
    let f = |xs: &[Tensor]| call(name, kind, consts, xs);
    let scalar_f = |xs: &[Tensor]| {
        let mut out = call(name, kind, consts, xs)?;
        assert_eq!(out.len(), 1, "{name} has one output");
        Ok(out.remove(0))
    };
    let mut grad_outputs: Vec<Tensor> = Vec::new();
    let (outputs, results): (Vec<Tensor>, Vec<Option<Tensor>>) = match case.family {
        Family::Grad => {
            let outs = call(name, kind, consts, &inputs)?;
            let outs: Vec<&Tensor> = case.grad_of.iter().map(|&i| &outs[i]).collect();
            let wrt: Vec<&Tensor> = case.wrt.iter().map(|&i| &inputs[i]).collect();
            let given: Option<Vec<Option<Tensor>>> = case.grad_outputs.as_ref().map(|g| {
                g.iter()
                    .map(|s| s.as_ref().map(|s| s.tensor(kind)))
                    .collect()
            });
            let opts = GradOptions {
                grad_outputs: given
                    .as_ref()
                    .map(|g| g.iter().map(Option::as_ref).collect()),
                retain_graph: o.retain_graph,
                create_graph: o.create_graph,
                allow_unused: o.allow_unused,
                is_grads_batched: o.is_grads_batched,
                materialize_grads: o.materialize_grads,
            };
            let res = grad(&outs, &wrt, &opts)?;
            grad_outputs = given.into_iter().flatten().flatten().collect();
            (vec![], res)
        }
        Family::Jacobian => {
            let opts = JacobianOptions {
                create_graph: o.create_graph,
                strict: o.strict,
                vectorize: o.vectorize,
                strategy,
                chunk_size: None,
            };
            let res = if case.single_api {
                vec![jacobian(
                    |x| scalar_f(std::slice::from_ref(x)),
                    &inputs[0],
                    &opts,
                )?]
            } else {
                jacobian_multi(f, &refs, &opts)?
                    .into_iter()
                    .flatten()
                    .collect()
            };
            (vec![], res.into_iter().map(Some).collect())
        }
        Family::Hessian => {
            let opts = HessianOptions {
                create_graph: o.create_graph,
                strict: o.strict,
                vectorize: o.vectorize,
                outer_jacobian_strategy: strategy,
            };
            let res = if case.single_api {
                vec![hessian(
                    |x| scalar_f(std::slice::from_ref(x)),
                    &inputs[0],
                    &opts,
                )?]
            } else {
                hessian_multi(scalar_f, &refs, &opts)?
                    .into_iter()
                    .flatten()
                    .collect()
            };
            (vec![], res.into_iter().map(Some).collect())
        }
        Family::Vjp | Family::Jvp => {
            let opts = ProductOptions {
                create_graph: o.create_graph,
                strict: o.strict,
            };
            let (out, res) = if case.family == Family::Vjp {
                vjp(f, &refs, v_refs.as_deref(), &opts)?
            } else {
                jvp(f, &refs, v_refs.as_deref(), &opts)?
            };
            (out, res.into_iter().map(Some).collect())
        }
        Family::Vhp | Family::Hvp => {
            let opts = ProductOptions {
                create_graph: o.create_graph,
                strict: o.strict,
            };
            let (out, res) = if case.family == Family::Vhp {
                vhp(scalar_f, &refs, v_refs.as_deref(), &opts)?
            } else {
                hvp(scalar_f, &refs, v_refs.as_deref(), &opts)?
            };
            (vec![out], res.into_iter().map(Some).collect())
        }
    };
    let second = if o.create_graph {
        second_order(&results, &inputs, v.as_deref(), &grad_outputs)?
    } else {
        None
    };
    Ok(Outcome {
        outputs,
        results,
        second,
    })
}

/// functional_cases.py's second-order check: the gradient of Σ (r * r).sum() over the
/// results that require grad, with respect to every input, v and grad_output that requires
/// grad (`allow_unused=True`); `None` when nothing is left to differentiate.
fn second_order(
    results: &[Option<Tensor>],
    inputs: &[Tensor],
    v: Option<&[Tensor]>,
    grad_outputs: &[Tensor],
) -> tchdist::Result<Option<Vec<Option<Tensor>>>> {
    let mut total: Option<Tensor> = None;
    for r in results.iter().flatten().filter(|r| r.requires_grad()) {
        let s = r.f_mul(r)?.f_sum(None::<Kind>)?;
        total = Some(match total {
            None => s,
            Some(t) => t.f_add(&s)?,
        });
    }
    let leaves: Vec<&Tensor> = inputs
        .iter()
        .chain(v.unwrap_or_default())
        .chain(grad_outputs)
        .filter(|t| t.requires_grad())
        .collect();
    match total {
        Some(total) if !leaves.is_empty() => {
            let opts = GradOptions {
                allow_unused: Some(true),
                ..Default::default()
            };
            Ok(Some(grad(&[&total], &leaves, &opts)?))
        }
        _ => Ok(None),
    }
}

// ---------------------------------------------------------------------------------------------
// Comparing with Python.

/// Python's exception types and the `Error` variants that stand for them.
fn kind_matches(py_type: &str, e: &Error) -> bool {
    match py_type {
        "ValueError" => matches!(e, Error::Value(_)),
        "NotImplementedError" => matches!(e, Error::NotImplemented(_)),
        // tchdist has no IndexError or AssertionError: both map to Error::Runtime.
        "RuntimeError" | "IndexError" | "AssertionError" => {
            matches!(e, Error::Runtime(_) | Error::Torch(_))
        }
        _ => false,
    }
}

/// `type(t.grad_fn).__name__`, read from the `grad_fn=<...>` that tchdist's `str(tensor)`
/// prints.
fn grad_fn_name(t: &Tensor) -> Option<String> {
    let text = tchdist::format::display(t).expect("printable");
    let start = text.rfind("grad_fn=<")? + "grad_fn=<".len();
    let len = text[start..].find('>')?;
    Some(text[start..start + len].to_string())
}

/// Compares tensors with Python's: bits, shape and `requires_grad`, and the `grad_fn` name
/// when `names` is set.
fn compare_tensor_lists(
    what: &str,
    actual: &[Option<Tensor>],
    expected: &Value,
    names: bool,
    failures: &mut Vec<String>,
) {
    let expected = expected.as_array().cloned().unwrap_or_default();
    if actual.len() != expected.len() {
        failures.push(format!(
            "{what}: {} tensors, Python {}",
            actual.len(),
            expected.len()
        ));
        return;
    }
    for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
        match (a, e.is_null()) {
            (None, true) => {}
            (None, false) => failures.push(format!("{what}[{i}]: None, Python a tensor")),
            (Some(_), true) => failures.push(format!("{what}[{i}]: a tensor, Python None")),
            (Some(t), false) => {
                if let Err(msg) = check_bitwise_eq(
                    &format!("{what}[{i}]"),
                    t,
                    &json_bits(&e["bits"]),
                    &json_shape(&e["shape"]),
                ) {
                    failures.push(msg);
                }
                let rg = e["requires_grad"].as_bool().expect("requires_grad");
                if t.requires_grad() != rg {
                    failures.push(format!(
                        "{what}[{i}]: requires_grad {}, Python {rg}",
                        t.requires_grad()
                    ));
                }
                if !names {
                    continue;
                }
                let py_fn = e["grad_fn"].as_str();
                let rust_fn = grad_fn_name(t);
                if rust_fn.as_deref() != py_fn {
                    failures.push(format!(
                        "{what}[{i}]: grad_fn {rust_fn:?}, Python {py_fn:?}"
                    ));
                }
            }
        }
    }
}

/// What Python said about each case: `Ok` for tensors, `Err((type, message))` for an error.
type PyOutcome = Result<(), (String, String)>;

/// Runs all `cases` through one Python process and compares; returns Python's outcome per
/// case and panics with every difference.
fn compare_with_python(cases: &[Case]) -> Vec<PyOutcome> {
    let input = Value::Array(cases.iter().map(Case::to_json).collect()).to_string();
    let output = run_python_stdin("tests/pyref/functional_cases.py", &[], &input);
    let expected: Vec<Value> = serde_json::from_str(&output).expect("Python printed JSON");
    assert_eq!(expected.len(), cases.len());
    let mut failures = Vec::new();
    let mut outcomes = Vec::new();
    for (case, want) in cases.iter().zip(&expected) {
        let mut diffs = Vec::new();
        let ok = want["ok"].as_bool().expect("ok flag");
        // tchdist's MultivariateNormal.log_prob computes `-0.5 * (k log 2π + M)` with
        // add.Scalar and mul.Scalar, where PyTorch's Python numbers select add.Tensor and
        // mul.Tensor: the same bits and requires_grad, but other grad_fn names
        // (AddBackward1/MulBackward1 for AddBackward0/MulBackward0). That is the
        // distribution's choice of ops, not autograd's, so grad_fn names are compared for
        // every function but the MVN ones.
        let names = !case.func.starts_with("mvn");
        match (run_rust(case), ok) {
            (Ok(got), true) => {
                compare_tensor_lists(
                    "outputs",
                    &got.outputs.into_iter().map(Some).collect::<Vec<_>>(),
                    &want["outputs"],
                    names,
                    &mut diffs,
                );
                compare_tensor_lists("results", &got.results, &want["results"], names, &mut diffs);
                match (&got.second, want.get("second")) {
                    (None, None) => {}
                    (Some(s), Some(w)) => {
                        compare_tensor_lists("second order", s, w, names, &mut diffs)
                    }
                    (s, w) => diffs.push(format!(
                        "second order: rust {}, Python {}",
                        s.is_some(),
                        w.is_some()
                    )),
                }
                outcomes.push(Ok(()));
            }
            (Ok(_), false) => {
                diffs.push(format!(
                    "Rust succeeded, Python raised {}: {}",
                    want["type"], want["msg"]
                ));
                outcomes.push(Err((String::new(), String::new())));
            }
            (Err(e), true) => {
                diffs.push(format!("Rust failed, Python succeeded: {e}"));
                outcomes.push(Ok(()));
            }
            (Err(e), false) => {
                let ty = want["type"].as_str().expect("type").to_string();
                let msg = want["msg"].as_str().expect("msg").to_string();
                // None of these messages ends with a printed tensor, so the whole text is
                // compared.
                let text = e.to_string();
                if text != msg {
                    diffs.push(format!(
                        "error text differs:\n    rust:   {text:?}\n    python: {ty}: {msg:?}"
                    ));
                }
                if !kind_matches(&ty, &e) {
                    diffs.push(format!("error kind: rust {e:?}, Python {ty}"));
                }
                outcomes.push(Err((ty, msg)));
            }
        }
        for d in diffs {
            failures.push(format!("{}: {d}", case.describe()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences from PyTorch over {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    outcomes
}

/// Checks the table's coverage: at least `min` cases per dtype that PyTorch computes (not
/// errors), and returns the count per dtype.
fn assert_value_cases(cases: &[Case], outcomes: &[PyOutcome], min: usize) -> (usize, usize) {
    let count = |f32: bool| {
        cases
            .iter()
            .zip(outcomes)
            .filter(|(c, o)| c.f32 == f32 && o.is_ok())
            .count()
    };
    let (n32, n64) = (count(true), count(false));
    eprintln!(
        "{}: {} cases, values compared: {n32} f32, {n64} f64; errors compared: {}",
        cases[0].family.name(),
        cases.len(),
        cases.len() - n32 - n64
    );
    assert!(
        n32 >= min && n64 >= min,
        "too few value cases: {n32} f32, {n64} f64 (want {min} each)"
    );
    (n32, n64)
}
