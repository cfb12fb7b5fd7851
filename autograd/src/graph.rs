//! The graph: `Var` (a tensor plus its place in the graph), `backward()`, `no_grad`, `detach`.
//!
//! An op builds its output with `Var::from_op(name, value, parents, backward_fn)`. When no parent requires a
//! gradient, or inside `no_grad`, the backward closure is dropped on the spot: nothing is saved. `backward()`
//! orders the graph with an explicit stack (a long unrolled LSTM would overflow a recursive sort), walks it in
//! reverse, takes each node's incoming gradient out of the map as it is consumed, and drops the node's
//! backward closure (with the activations it saved) as soon as it has run, unless `retain_graph` is asked.

use crate::{Error, Result};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use wrt_tensor::{DType, Tensor};

/// A backward rule: given d(output), return d(parent) for each parent (None = no gradient flows).
pub type BackwardFn = Box<dyn Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync>;

enum Rule {
    /// A leaf: a parameter or an input.
    Leaf,
    /// An op's backward rule, present until it has run (unless the graph is retained).
    Op(BackwardFn),
    /// The rule ran and was freed.
    Freed,
}

/// The graph part of a value: its backward rule and links to its inputs' nodes. A node does not own its
/// value (as PyTorch's `grad_fn` does not), so an intermediate result lives only as long as the user's `Var`
/// or a backward rule that saved it.
struct Node {
    id: usize,
    op: &'static str,
    shape: Vec<usize>,
    requires_grad: bool,
    parents: Vec<Arc<Node>>,
    rule: Mutex<Rule>,
    grad: Mutex<Option<Tensor>>,
    retain_grad: AtomicBool,
}

// Dropping the last handle of a long chain (an unrolled LSTM, 100k ops) would recurse once per node through
// `parents` and overflow the stack; unlink iteratively instead.
impl Drop for Node {
    fn drop(&mut self) {
        let mut stack: Vec<Arc<Node>> = std::mem::take(&mut self.parents);
        while let Some(n) = stack.pop() {
            if let Ok(mut node) = Arc::try_unwrap(n) {
                stack.append(&mut node.parents);
            }
        }
    }
}

/// A tensor with its place in the autograd graph. Cloning is cheap and shares the node.
#[derive(Clone)]
pub struct Var {
    value: Tensor,
    node: Arc<Node>,
}

impl std::fmt::Debug for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Var({}, {:?}, requires_grad={})", self.node.op, self.value, self.node.requires_grad)
    }
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static NO_GRAD_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// True while inside `no_grad` on this thread.
pub fn is_grad_enabled() -> bool {
    NO_GRAD_DEPTH.with(|d| d.get() == 0)
}

/// Disables graph building on this thread while alive (`torch.no_grad()`).
pub struct NoGradGuard(());

impl NoGradGuard {
    #[allow(clippy::new_without_default)]
    pub fn new() -> NoGradGuard {
        NO_GRAD_DEPTH.with(|d| d.set(d.get() + 1));
        NoGradGuard(())
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        NO_GRAD_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Run `f` without building a graph.
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _g = NoGradGuard::new();
    f()
}

impl Var {
    fn make(op: &'static str, value: Tensor, requires_grad: bool, parents: Vec<Arc<Node>>, rule: Rule) -> Var {
        let node = Arc::new(Node {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            op,
            shape: value.shape().to_vec(),
            requires_grad,
            parents,
            rule: Mutex::new(rule),
            grad: Mutex::new(None),
            retain_grad: AtomicBool::new(false),
        });
        Var { value, node }
    }

    /// A leaf. `requires_grad = true` for parameters.
    pub fn new(value: Tensor, requires_grad: bool) -> Var {
        Var::make("leaf", value, requires_grad, vec![], Rule::Leaf)
    }

    /// A leaf that never needs a gradient (inputs, targets, masks).
    pub fn constant(value: Tensor) -> Var {
        Var::new(value, false)
    }

    /// The output of a differentiable op. `backward` receives d(output) and returns one entry per parent.
    pub fn from_op(op: &'static str, value: Tensor, parents: &[&Var], backward: impl Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static) -> Var {
        let tracked = is_grad_enabled() && parents.iter().any(|p| p.requires_grad());
        if !tracked {
            return Var::make(op, value, false, vec![], Rule::Leaf);
        }
        Var::make(op, value, true, parents.iter().map(|p| p.node.clone()).collect(), Rule::Op(Box::new(backward)))
    }

    pub fn value(&self) -> &Tensor {
        &self.value
    }
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }
    pub fn dtype(&self) -> DType {
        self.value.dtype()
    }
    pub fn rank(&self) -> usize {
        self.value.rank()
    }
    pub fn requires_grad(&self) -> bool {
        self.node.requires_grad
    }
    pub fn is_leaf(&self) -> bool {
        matches!(*self.node.rule.lock().expect("autograd node lock"), Rule::Leaf)
    }
    /// Name of the op that produced this var ("leaf" for leaves).
    pub fn op_name(&self) -> &'static str {
        self.node.op
    }
    /// Stable identity of the node (for maps keyed by parameter).
    pub fn id(&self) -> usize {
        self.node.id
    }

    /// The accumulated gradient, if any.
    pub fn grad(&self) -> Option<Tensor> {
        self.node.grad.lock().expect("autograd grad lock").clone()
    }
    pub fn set_grad(&self, g: Option<Tensor>) {
        *self.node.grad.lock().expect("autograd grad lock") = g;
    }
    /// Forget the accumulated gradient (`set_to_none=True`, PyTorch's default).
    pub fn zero_grad(&self) {
        self.set_grad(None);
    }
    /// Keep this non-leaf's gradient in `.grad()` after backward.
    pub fn retain_grad(&self) {
        self.node.retain_grad.store(true, Ordering::Relaxed);
    }

    /// The same value, cut from the graph.
    pub fn detach(&self) -> Var {
        Var::constant(self.value.clone())
    }

    /// Backward from a scalar output (d self = 1).
    pub fn backward(&self) -> Result<()> {
        if self.value.numel() != 1 {
            return Err(Error::Graph(format!(
                "backward() needs a scalar output, got shape {:?}; pass a gradient with backward_with()",
                self.shape()
            )));
        }
        let seed = Tensor::ones(self.shape(), self.dtype())?;
        self.backward_with(&seed, false)
    }

    /// Backward with an explicit output gradient; `retain_graph` keeps the saved state for another pass.
    pub fn backward_with(&self, grad: &Tensor, retain_graph: bool) -> Result<()> {
        if !self.requires_grad() {
            return Err(Error::Graph("this value does not require grad and has no grad_fn".into()));
        }
        if grad.shape() != self.shape() {
            return Err(Error::Graph(format!("gradient shape {:?} does not match output shape {:?}", grad.shape(), self.shape())));
        }
        let order = topo_order(&self.node);
        let mut grads: HashMap<usize, Tensor> = HashMap::new();
        grads.insert(self.node.id, grad.clone());
        for node in order.iter().rev() {
            let Some(g) = grads.remove(&node.id) else { continue };
            let mut rule = node.rule.lock().expect("autograd node lock");
            let keep = node.retain_grad.load(Ordering::Relaxed);
            match &*rule {
                Rule::Leaf => {
                    accumulate(&node.grad, g)?;
                    continue;
                }
                Rule::Freed => {
                    return Err(Error::Graph(format!(
                        "trying to backward through the graph a second time (at '{}'): its saved tensors were freed; \
                         pass retain_graph=true to the first backward if you need to",
                        node.op
                    )))
                }
                Rule::Op(f) => {
                    if keep {
                        accumulate(&node.grad, g.clone())?;
                    }
                    let pgrads = f(&g).map_err(|e| e.context(node.op))?;
                    if pgrads.len() != node.parents.len() {
                        return Err(Error::Graph(format!("op '{}' returned {} gradients for {} inputs", node.op, pgrads.len(), node.parents.len())));
                    }
                    for (p, pg) in node.parents.iter().zip(pgrads) {
                        let Some(pg) = pg else { continue };
                        if !p.requires_grad {
                            continue;
                        }
                        if pg.shape() != p.shape.as_slice() {
                            return Err(Error::Graph(format!(
                                "op '{}' produced a gradient of shape {:?} for an input of shape {:?}",
                                node.op,
                                pg.shape(),
                                p.shape
                            )));
                        }
                        match grads.remove(&p.id) {
                            Some(acc) => grads.insert(p.id, acc.add(&pg)?),
                            None => grads.insert(p.id, pg),
                        };
                    }
                }
            }
            if !retain_graph {
                *rule = Rule::Freed;
            }
        }
        Ok(())
    }
}

fn accumulate(slot: &Mutex<Option<Tensor>>, g: Tensor) -> Result<()> {
    let mut s = slot.lock().expect("autograd grad lock");
    *s = Some(match s.take() {
        Some(acc) => acc.add(&g)?,
        // Own the buffer: `g` may share storage with a saved tensor or an input.
        None => g,
    });
    Ok(())
}

/// Nodes reachable from `root` that require grad, parents before children.
fn topo_order(root: &Arc<Node>) -> Vec<Arc<Node>> {
    let mut order = Vec::new();
    let mut visited = std::collections::HashSet::new();
    // (node, children pushed yet?)
    let mut stack = vec![(root.clone(), false)];
    while let Some((n, expanded)) = stack.pop() {
        if expanded {
            order.push(n);
            continue;
        }
        if !visited.insert(n.id) {
            continue;
        }
        stack.push((n.clone(), true));
        for p in &n.parents {
            if p.requires_grad && !visited.contains(&p.id) {
                stack.push((p.clone(), false));
            }
        }
    }
    order
}
