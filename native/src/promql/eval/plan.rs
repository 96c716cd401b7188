//! From the parser's AST to the tree the evaluator walks: Prometheus 2.42's
//! checks the parser crate does not make, `@ start()`/`@ end()` resolved,
//! durations in milliseconds, the metric name folded into the matchers, the
//! time range every selector reads (`findMinMaxTime`/`getTimeRangesForSelector`
//! in engine.go) and the step-invariant subtrees marked (`PreprocessExpr`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promql_parser::label::{MatchOp, Matcher, Matchers};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{AtModifier, Expr, LabelModifier, Offset, VectorMatchCardinality};

use super::super::error::PromqlError;
use super::super::value::{Labels, METRIC_NAME};

/// The step of a subquery written without one (`x[1h:]`): Prometheus takes
/// its global evaluation interval, 1 minute unless configured otherwise.
pub const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;

/// Prometheus v2.42's functions (promql/parser/functions.go at that tag) that
/// this engine evaluates. The parser crate knows later ones too.
const FUNCTIONS_2_42: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_quantile",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_replace",
    "label_join",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
];

/// Functions of Prometheus 2.42 that act only on native histograms, which
/// this engine does not store.
const NATIVE_HISTOGRAM_FUNCTIONS: &[&str] = &[
    "histogram_count",
    "histogram_sum",
    "histogram_fraction",
    "histogram_avg",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_quantiles",
];

/// Functions whose result depends on the evaluation time even when their
/// arguments do not (`AtModifierUnsafeFunctions` in functions.go).
const AT_MODIFIER_UNSAFE: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

pub(crate) fn is_at_modifier_unsafe(name: &str) -> bool {
    AT_MODIFIER_UNSAFE.contains(&name)
}

/// A value type, as Prometheus's documentation names it in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Scalar,
    Vector,
    Matrix,
    String,
}

impl Ty {
    fn of(t: ValueType) -> Ty {
        match t {
            ValueType::Scalar => Ty::Scalar,
            ValueType::Vector => Ty::Vector,
            ValueType::Matrix => Ty::Matrix,
            ValueType::String => Ty::String,
        }
    }

    pub(crate) fn documented(self) -> &'static str {
        match self {
            Ty::Scalar => "scalar",
            Ty::Vector => "instant vector",
            Ty::Matrix => "range vector",
            Ty::String => "string",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Quantile,
    CountValues,
    Group,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eql,
    Neq,
    Gtr,
    Lss,
    Gte,
    Lte,
    And,
    Or,
    Unless,
}

impl BinOp {
    pub(crate) fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eql | BinOp::Neq | BinOp::Gtr | BinOp::Lss | BinOp::Gte | BinOp::Lte
        )
    }

    /// Arithmetic drops the metric name; comparisons and set operators keep it.
    pub(crate) fn drops_metric_name(self) -> bool {
        matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Pow | BinOp::Mod
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

/// How the two sides of a vector-vector operation match.
#[derive(Debug, Clone)]
pub(crate) struct Matching {
    pub card: Card,
    /// `on(...)`; otherwise `ignoring(...)` (or no modifier: ignore nothing).
    pub on: bool,
    pub labels: Vec<String>,
    /// The `group_left(...)`/`group_right(...)` labels taken from the "one" side.
    pub include: Vec<String>,
}

/// A selector's place in the plan: its series are `Plan::selectors[id]`.
#[derive(Debug, Clone)]
pub(crate) struct Sel {
    pub id: usize,
    pub offset: i64,
    /// The `@` time, `start()`/`end()` resolved.
    pub at: Option<i64>,
}

#[derive(Debug)]
pub(crate) struct Subq {
    pub expr: Box<Node>,
    pub range: i64,
    pub step: i64,
    pub offset: i64,
    pub at: Option<i64>,
}

#[derive(Debug)]
pub(crate) struct Agg {
    pub op: AggOp,
    pub param: Option<Box<Node>>,
    pub expr: Box<Node>,
    /// Sorted.
    pub grouping: Vec<String>,
    pub without: bool,
}

#[derive(Debug)]
pub(crate) struct Bin {
    pub op: BinOp,
    pub lhs: Box<Node>,
    pub rhs: Box<Node>,
    pub matching: Matching,
    pub return_bool: bool,
}

#[derive(Debug)]
pub(crate) struct Call {
    pub name: String,
    pub args: Vec<Node>,
    /// The arguments as written, for the functions that read them (`absent`).
    pub exprs: Vec<Expr>,
    pub ret: Ty,
}

/// One node of the evaluated tree (parentheses and unary plus are gone).
#[derive(Debug)]
pub(crate) enum Node {
    Num(f64),
    Str(String),
    Neg(Box<Node>),
    Sel(Sel),
    Mat(Sel, i64),
    Subq(Subq),
    Agg(Agg),
    Bin(Bin),
    Call(Call),
    /// A subtree whose value is the same at every step: evaluated once at the
    /// first step and repeated (Prometheus's `StepInvariantExpr`).
    Inv(Box<Node>),
}

impl Node {
    pub(crate) fn ty(&self) -> Ty {
        match self {
            Node::Num(_) => Ty::Scalar,
            Node::Str(_) => Ty::String,
            Node::Neg(e) | Node::Inv(e) => e.ty(),
            Node::Sel(_) | Node::Agg(_) => Ty::Vector,
            Node::Mat(..) | Node::Subq(_) => Ty::Matrix,
            Node::Bin(b) => {
                if b.lhs.ty() == Ty::Scalar && b.rhs.ty() == Ty::Scalar {
                    Ty::Scalar
                } else {
                    Ty::Vector
                }
            }
            Node::Call(c) => c.ret,
        }
    }

    /// The node without a step-invariance wrapper.
    pub(crate) fn unwrap_inv(&self) -> &Node {
        match self {
            Node::Inv(e) => e,
            n => n,
        }
    }
}

/// A selector: its matchers (metric name included) and the time range the
/// evaluation reads from it.
#[derive(Debug, Clone)]
pub(crate) struct SelSpec {
    pub matchers: Matchers,
    pub min_t: i64,
    pub max_t: i64,
    /// The selector as written (for messages and `absent_over_time`).
    pub eq_labels: Labels,
}

pub(crate) struct Plan {
    pub root: Node,
    pub selectors: Vec<SelSpec>,
}

/// Register the functions Prometheus 2.42 has and the parser crate lacks.
pub(crate) fn register_functions() {
    use promql_parser::parser::Function;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // holt_winters is 2.42's name of what later versions call
        // double_exponential_smoothing.
        let _ = promql_parser::parser::register_extra_functions(vec![Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        )]);
    });
}

/// The parser crate's message in Prometheus's words: `parse error: ` first,
/// its documented type names (`range vector`, `instant vector`), names in
/// double quotes.
pub(crate) fn prometheus_message(m: &str) -> String {
    fn ty(t: &str) -> &str {
        match t {
            "vector" => "instant vector",
            "matrix" => "range vector",
            other => other,
        }
    }
    let m = m.replace('\'', "\"");
    let m = if let Some(rest) = m.strip_prefix("expected type ") {
        match (rest.split_once(" in "), rest.rsplit_once(", got ")) {
            (Some((want, _)), Some((head, got))) => {
                let context = head.split_once(" in ").map_or("", |(_, c)| c);
                format!("expected type {} in {context}, got {}", ty(want), ty(got))
            }
            _ => m,
        }
    } else if let Some(got) = m.strip_prefix(
        "unary expression only allowed on expressions of type scalar or vector, got: ",
    ) {
        format!(
            "unary expression only allowed on expressions of type scalar or instant vector, got \"{}\"",
            ty(got)
        )
    } else {
        m.replace(
            "subquery is only allowed on vector,",
            "subquery is only allowed on instant vector,",
        )
        .replace(
            "only allowed between vectors",
            "only allowed between instant vectors",
        )
    };
    format!("parse error: {m}")
}

/// Prometheus 2.42's checks the parser crate skips, and the constructs this
/// engine does not evaluate.
pub(crate) fn validate(expr: &Expr) -> Result<(), PromqlError> {
    match expr {
        Expr::Extension(_) => Err(PromqlError::Unsupported("extension expressions".into())),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::VectorSelector(vs) => {
            check_at(&vs.at)?;
            check_matchers(&vs.matchers)?;
            vs.matchers
                .matchers
                .iter()
                .try_for_each(|m| go_matcher(m).map(drop))
        }
        Expr::MatrixSelector(ms) => {
            check_at(&ms.vs.at)?;
            check_matchers(&ms.vs.matchers)?;
            ms.vs
                .matchers
                .matchers
                .iter()
                .try_for_each(|m| go_matcher(m).map(drop))
        }
        Expr::Paren(p) => validate(&p.expr),
        Expr::Unary(u) => validate(&u.expr),
        Expr::Subquery(s) => {
            check_at(&s.at)?;
            validate(&s.expr)
        }
        Expr::Aggregate(a) => {
            let op = a.op.to_string();
            if agg_op(&op).is_none() {
                return Err(PromqlError::Unsupported(format!(
                    "the aggregation {op} (not in Prometheus 2.42)"
                )));
            }
            if let Some(p) = &a.param {
                validate(p)?;
            }
            validate(&a.expr)
        }
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier {
                if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                    return Err(PromqlError::Unsupported(
                        "the fill modifiers of binary operators (not in Prometheus 2.42)".into(),
                    ));
                }
            }
            validate(&b.lhs)?;
            validate(&b.rhs)
        }
        Expr::Call(c) => {
            let name = c.func.name;
            if NATIVE_HISTOGRAM_FUNCTIONS.contains(&name) {
                return Err(PromqlError::Unsupported(format!(
                    "the native-histogram function {name}"
                )));
            }
            if !FUNCTIONS_2_42.contains(&name) {
                return Err(PromqlError::Unsupported(format!(
                    "the function {name} (not in Prometheus 2.42)"
                )));
            }
            // The parser crate skips the argument types of exp/ln/log2/log10
            // on some literals; Prometheus checks them always.
            let types = &c.func.arg_types;
            for (i, arg) in c.args.args.iter().enumerate() {
                if types.is_empty() {
                    break;
                }
                if i >= types.len() && c.func.variadic == 0 {
                    break;
                }
                let want = Ty::of(types[i.min(types.len() - 1)]);
                let got = Ty::of(arg.value_type());
                if want != got {
                    return Err(PromqlError::Parse(format!(
                        "parse error: expected type {} in call to function \"{name}\", got {}",
                        want.documented(),
                        got.documented()
                    )));
                }
            }
            c.args.args.iter().try_for_each(|a| validate(a))
        }
    }
}

/// A matcher whose regular expression (if any) is read as Go's `regexp`
/// reads Prometheus's `^(?:…)$` (the parser crate compiles the `regex`
/// crate's reading: `\d`, `\w`, `\s` are Unicode there, ASCII in Go); a
/// pattern Go rejects is a parse error, as in Prometheus.
fn go_matcher(m: &Matcher) -> Result<Matcher, PromqlError> {
    let negated = match &m.op {
        MatchOp::Re(_) => false,
        MatchOp::NotRe(_) => true,
        _ => return Ok(m.clone()),
    };
    let pattern = super::super::functions::go_regex::translate(&format!("^(?:{})$", m.value))
        .map_err(|e| PromqlError::Parse(format!("parse error: {e}")))?;
    let re =
        regex::Regex::new(&pattern).map_err(|e| PromqlError::Parse(format!("parse error: {e}")))?;
    let op = if negated {
        MatchOp::NotRe(re)
    } else {
        MatchOp::Re(re)
    };
    Ok(Matcher {
        op,
        name: m.name.clone(),
        value: m.value.clone(),
    })
}

/// An `@` time must fit in Prometheus's int64 (the parser crate saturates).
fn check_at(at: &Option<AtModifier>) -> Result<(), PromqlError> {
    if let Some(AtModifier::At(t)) = at {
        let d = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        if d.as_millis() >= i64::MAX as u128 {
            return Err(PromqlError::Parse(format!(
                "parse error: timestamp out of bounds for @ modifier: {:.6}",
                d.as_secs_f64()
            )));
        }
    }
    Ok(())
}

fn check_matchers(m: &Matchers) -> Result<(), PromqlError> {
    if m.or_matchers.is_empty() {
        Ok(())
    } else {
        Err(PromqlError::Unsupported(
            "the or-matcher syntax {a=\"1\" or b=\"2\"} (not in Prometheus 2.42)".into(),
        ))
    }
}

fn agg_op(op: &str) -> Option<AggOp> {
    Some(match op {
        "sum" => AggOp::Sum,
        "avg" => AggOp::Avg,
        "min" => AggOp::Min,
        "max" => AggOp::Max,
        "count" => AggOp::Count,
        "stddev" => AggOp::Stddev,
        "stdvar" => AggOp::Stdvar,
        "topk" => AggOp::Topk,
        "bottomk" => AggOp::Bottomk,
        "quantile" => AggOp::Quantile,
        "count_values" => AggOp::CountValues,
        "group" => AggOp::Group,
        _ => return None,
    })
}

fn bin_op(op: &str) -> Option<BinOp> {
    Some(match op {
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "%" => BinOp::Mod,
        "^" => BinOp::Pow,
        "atan2" => BinOp::Atan2,
        "==" => BinOp::Eql,
        "!=" => BinOp::Neq,
        ">" => BinOp::Gtr,
        "<" => BinOp::Lss,
        ">=" => BinOp::Gte,
        "<=" => BinOp::Lte,
        "and" => BinOp::And,
        "or" => BinOp::Or,
        "unless" => BinOp::Unless,
        _ => return None,
    })
}

fn millis(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => millis(d),
        Some(Offset::Neg(d)) => -millis(d),
    }
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => millis(&d),
        Err(e) => -millis(&e.duration()),
    }
}

/// One enclosing subquery, for the time range its selectors read.
#[derive(Clone, Copy)]
struct SubqCtx {
    offset: i64,
    range: i64,
    at: Option<i64>,
}

struct Builder {
    start: i64,
    end: i64,
    lookback: i64,
    subqs: Vec<SubqCtx>,
    selectors: Vec<SelSpec>,
}

/// Build the evaluation tree of `expr` for a query over `[start, end]`.
pub(crate) fn build(expr: &Expr, start: i64, end: i64, lookback: i64) -> Result<Plan, PromqlError> {
    let mut b = Builder {
        start,
        end,
        lookback,
        subqs: Vec::new(),
        selectors: Vec::new(),
    };
    let root = b.node(expr)?;
    let (root, invariant) = mark_invariant(root);
    let root = if invariant {
        Node::Inv(Box::new(root))
    } else {
        root
    };
    Ok(Plan {
        root,
        selectors: b.selectors,
    })
}

impl Builder {
    fn at(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.start),
            Some(AtModifier::End) => Some(self.end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
        }
    }

    /// A selector's spec and its time range (`getTimeRangesForSelector`).
    fn selector(
        &mut self,
        vs: &promql_parser::parser::VectorSelector,
        range: Option<i64>,
    ) -> Result<Sel, PromqlError> {
        let offset = offset_ms(&vs.offset);
        let at = self.at(&vs.at);
        let (mut start, mut end) = (self.start, self.end);
        let (mut sq_offset, mut sq_range, mut sq_at) = (0i64, 0i64, None);
        for s in &self.subqs {
            sq_offset += s.offset;
            sq_range += s.range;
            if let Some(a) = s.at {
                // An @ on a subquery resets what the outer ones added.
                sq_offset = s.offset;
                sq_range = s.range;
                sq_at = Some(a);
            }
        }
        if let Some(a) = sq_at {
            start = a;
            end = a;
        }
        if let Some(a) = at {
            start = a;
            end = a;
        } else {
            start = start.saturating_sub(sq_offset).saturating_sub(sq_range);
            end = end.saturating_sub(sq_offset);
        }
        start = start.saturating_sub(match range {
            Some(r) if r != 0 => r,
            _ => self.lookback,
        });
        start = start.saturating_sub(offset);
        end = end.saturating_sub(offset);

        let mut matchers = vs
            .matchers
            .matchers
            .iter()
            .map(go_matcher)
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(name) = &vs.name {
            matchers.push(Matcher::new(MatchOp::Equal, METRIC_NAME, name));
        }
        let id = self.selectors.len();
        self.selectors.push(SelSpec {
            eq_labels: absent_labels(&matchers),
            matchers: Matchers::new(matchers),
            min_t: start,
            max_t: end,
        });
        Ok(Sel { id, offset, at })
    }

    fn node(&mut self, e: &Expr) -> Result<Node, PromqlError> {
        Ok(match e {
            Expr::NumberLiteral(n) => Node::Num(n.val),
            Expr::StringLiteral(s) => Node::Str(s.val.clone()),
            Expr::Paren(p) => self.node(&p.expr)?,
            Expr::Unary(u) => match self.node(&u.expr)? {
                Node::Num(v) => Node::Num(-v),
                n => Node::Neg(Box::new(n)),
            },
            Expr::VectorSelector(vs) => Node::Sel(self.selector(vs, None)?),
            Expr::MatrixSelector(ms) => {
                let range = millis(&ms.range);
                Node::Mat(self.selector(&ms.vs, Some(range))?, range)
            }
            Expr::Subquery(s) => {
                let range = millis(&s.range);
                let step = match &s.step {
                    Some(d) if !d.is_zero() => millis(d),
                    _ => DEFAULT_SUBQUERY_STEP_MS,
                };
                let offset = offset_ms(&s.offset);
                let at = self.at(&s.at);
                self.subqs.push(SubqCtx { offset, range, at });
                let inner = self.node(&s.expr);
                self.subqs.pop();
                Node::Subq(Subq {
                    expr: Box::new(inner?),
                    range,
                    step,
                    offset,
                    at,
                })
            }
            Expr::Aggregate(a) => {
                let op_name = a.op.to_string();
                let op = agg_op(&op_name).ok_or_else(|| {
                    PromqlError::Unsupported(format!("the aggregation {op_name}"))
                })?;
                let (mut grouping, without) = match &a.modifier {
                    None => (Vec::new(), false),
                    Some(LabelModifier::Include(l)) => (l.labels.clone(), false),
                    Some(LabelModifier::Exclude(l)) => (l.labels.clone(), true),
                };
                grouping.sort();
                let param = match &a.param {
                    Some(p) => Some(Box::new(self.node(p)?)),
                    None => None,
                };
                Node::Agg(Agg {
                    op,
                    param,
                    expr: Box::new(self.node(&a.expr)?),
                    grouping,
                    without,
                })
            }
            Expr::Binary(b) => {
                let op_name = b.op.to_string();
                let op = bin_op(&op_name).ok_or_else(|| {
                    PromqlError::Unsupported(format!("the binary operator {op_name}"))
                })?;
                let lhs = self.node(&b.lhs)?;
                let rhs = self.node(&b.rhs)?;
                let set_op = matches!(op, BinOp::And | BinOp::Or | BinOp::Unless);
                let mut matching = Matching {
                    card: if set_op {
                        Card::ManyToMany
                    } else {
                        Card::OneToOne
                    },
                    on: false,
                    labels: Vec::new(),
                    include: Vec::new(),
                };
                let mut return_bool = false;
                if let Some(m) = &b.modifier {
                    return_bool = m.return_bool;
                    match &m.matching {
                        Some(LabelModifier::Include(l)) => {
                            matching.on = true;
                            matching.labels = l.labels.clone();
                        }
                        Some(LabelModifier::Exclude(l)) => matching.labels = l.labels.clone(),
                        None => {}
                    }
                    match &m.card {
                        VectorMatchCardinality::ManyToOne(l) => {
                            matching.card = Card::ManyToOne;
                            matching.include = l.labels.clone();
                        }
                        VectorMatchCardinality::OneToMany(l) => {
                            matching.card = Card::OneToMany;
                            matching.include = l.labels.clone();
                        }
                        VectorMatchCardinality::ManyToMany | VectorMatchCardinality::OneToOne => {}
                    }
                }
                Node::Bin(Bin {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                    matching,
                    return_bool,
                })
            }
            Expr::Call(c) => {
                let args = c
                    .args
                    .args
                    .iter()
                    .map(|a| self.node(a))
                    .collect::<Result<Vec<_>, _>>()?;
                Node::Call(Call {
                    name: c.func.name.to_string(),
                    args,
                    exprs: c.args.args.iter().map(|a| (**a).clone()).collect(),
                    ret: Ty::of(c.func.return_type),
                })
            }
            Expr::Extension(_) => {
                return Err(PromqlError::Unsupported("extension expressions".into()))
            }
        })
    }
}

/// The labels `absent()`/`absent_over_time()` give a missing selector: its
/// `=` matchers, except a label matched twice (`createLabelsForAbsentFunction`).
fn absent_labels(matchers: &[Matcher]) -> Labels {
    let mut out: Labels = Vec::new();
    let mut has: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        out.retain(|(n, _)| n != &m.name);
        if matches!(m.op, MatchOp::Equal) && !has.contains(&m.name.as_str()) {
            if !m.value.is_empty() {
                out.push((m.name.clone(), m.value.clone()));
            }
            has.push(&m.name);
        }
    }
    out.sort();
    out
}

/// Wrap the step-invariant subtrees (Prometheus's `preprocessExprHelper`);
/// answers whether `n` itself is step invariant.
fn mark_invariant(n: Node) -> (Node, bool) {
    fn wrap(n: Node, inv: bool) -> Node {
        if inv {
            Node::Inv(Box::new(n))
        } else {
            n
        }
    }
    match n {
        Node::Num(_) | Node::Str(_) => (n, true),
        Node::Sel(ref s) | Node::Mat(ref s, _) => {
            let inv = s.at.is_some();
            (n, inv)
        }
        Node::Neg(e) => {
            let (e, inv) = mark_invariant(*e);
            (Node::Neg(Box::new(e)), inv)
        }
        Node::Agg(mut a) => {
            let (e, inv) = mark_invariant(*a.expr);
            a.expr = Box::new(e);
            (Node::Agg(a), inv)
        }
        Node::Bin(mut b) => {
            let (l, li) = mark_invariant(*b.lhs);
            let (r, ri) = mark_invariant(*b.rhs);
            if li && ri {
                b.lhs = Box::new(l);
                b.rhs = Box::new(r);
                return (Node::Bin(b), true);
            }
            b.lhs = Box::new(wrap(l, li));
            b.rhs = Box::new(wrap(r, ri));
            (Node::Bin(b), false)
        }
        Node::Call(mut c) => {
            let marked: Vec<(Node, bool)> = c.args.drain(..).map(mark_invariant).collect();
            let all = !is_at_modifier_unsafe(&c.name) && marked.iter().all(|(_, i)| *i);
            if all {
                c.args = marked.into_iter().map(|(n, _)| n).collect();
                return (Node::Call(c), true);
            }
            c.args = marked.into_iter().map(|(n, i)| wrap(n, i)).collect();
            (Node::Call(c), false)
        }
        Node::Subq(mut s) => {
            let (e, inv) = mark_invariant(*s.expr);
            s.expr = Box::new(wrap(e, inv));
            let inv = s.at.is_some();
            (Node::Subq(s), inv)
        }
        Node::Inv(_) => (n, true),
    }
}
