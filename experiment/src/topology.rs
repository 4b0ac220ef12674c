//! Which nodes of a run are linked: full mesh, ring, or a seeded random graph.
//!
//! **Boundary:** pure graph construction; it knows nothing of processes, ports or relays.
//! **Invariant:** links are undirected, stored once as `(a, b)` with `a < b`, sorted, with
//! no self-loops and no duplicates; every topology built here is connected, but for
//! [`Topology::apart_from_mesh`], whose first node is alone by design.

use std::collections::BTreeSet;

use rand::SeedableRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;

/// The undirected links between the nodes `0..nodes` of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Topology {
    nodes: usize,
    links: Vec<(usize, usize)>,
}

impl Topology {
    /// Every node linked with every other.
    pub(crate) fn mesh(nodes: usize) -> Self {
        let links = (0..nodes)
            .flat_map(|a| (a + 1..nodes).map(move |b| (a, b)))
            .collect();
        Self::from_links(nodes, links)
    }

    /// Node `i` linked with `i + 1`, and the last with the first.
    pub(crate) fn ring(nodes: usize) -> Self {
        let links = (0..nodes)
            .map(|a| (a, (a + 1) % nodes))
            .filter(|(a, b)| a != b)
            .collect();
        Self::from_links(nodes, links)
    }

    /// A ring over a seeded permutation of the nodes (so the graph is connected), plus
    /// seeded random links until every node has at least `degree` links where the node
    /// count allows it. The same `(nodes, degree, seed)` always gives the same graph.
    ///
    /// Extra links go between two nodes that both still lack links while such pairs
    /// exist, so degrees stay close to `degree`; a node left over links to one of the
    /// least linked nodes, which may then have `degree + 1` links.
    pub(crate) fn random(nodes: usize, degree: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..nodes).collect();
        order.shuffle(&mut rng);
        let mut links: BTreeSet<(usize, usize)> = (0..nodes)
            .map(|i| ordered(order[i], order[(i + 1) % nodes]))
            .filter(|(a, b)| a != b)
            .collect();
        let mut degrees = vec![0; nodes];
        for &(a, b) in &links {
            degrees[a] += 1;
            degrees[b] += 1;
        }
        // Visit nodes in the shuffled order so no index is favoured.
        for &node in &order {
            while degrees[node] < degree {
                let unlinked: Vec<usize> = (0..nodes)
                    .filter(|&other| other != node && !links.contains(&ordered(node, other)))
                    .collect();
                // Prefer partners that lack links too; else the least linked ones, so
                // no node collects the leftovers.
                let Some(fewest) = unlinked.iter().map(|&other| degrees[other]).min() else {
                    break;
                };
                let fewest = fewest.max(degree.saturating_sub(1));
                let pool: Vec<usize> = unlinked
                    .into_iter()
                    .filter(|&other| degrees[other] <= fewest)
                    .collect();
                let Some(&other) = pool.choose(&mut rng) else {
                    break;
                };
                links.insert(ordered(node, other));
                degrees[node] += 1;
                degrees[other] += 1;
            }
        }
        Self::from_links(nodes, links.into_iter().collect())
    }

    /// Node 0 linked with nobody, beside a mesh of nodes `1..=mesh`: an attacker whose
    /// blocks reach the others only when it publishes them.
    pub(crate) fn apart_from_mesh(mesh: usize) -> Self {
        let links = (1..=mesh)
            .flat_map(|a| (a + 1..=mesh).map(move |b| (a, b)))
            .collect();
        Self::from_links(mesh + 1, links)
    }

    fn from_links(nodes: usize, links: Vec<(usize, usize)>) -> Self {
        let mut links: Vec<(usize, usize)> =
            links.into_iter().map(|(a, b)| ordered(a, b)).collect();
        links.sort_unstable();
        links.dedup();
        Topology { nodes, links }
    }

    /// The links, each once as `(a, b)` with `a < b`, sorted.
    pub(crate) fn links(&self) -> &[(usize, usize)] {
        &self.links
    }

    /// The nodes linked with `node`, in increasing order.
    pub(crate) fn neighbours(&self, node: usize) -> Vec<usize> {
        self.links
            .iter()
            .filter_map(|&(a, b)| match node {
                _ if node == a => Some(b),
                _ if node == b => Some(a),
                _ => None,
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

fn ordered(a: usize, b: usize) -> (usize, usize) {
    if a < b { (a, b) } else { (b, a) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the tests check a topology by; a run needs none of it.
    impl Topology {
        fn nodes(&self) -> usize {
            self.nodes
        }

        /// Whether `a` and `b` are linked (in either order).
        fn is_linked(&self, a: usize, b: usize) -> bool {
            a != b && self.links.binary_search(&ordered(a, b)).is_ok()
        }

        /// Whether every node can reach every other over the links.
        fn is_connected(&self) -> bool {
            if self.nodes == 0 {
                return true;
            }
            let mut reached = vec![false; self.nodes];
            let mut frontier = vec![0];
            reached[0] = true;
            while let Some(node) = frontier.pop() {
                for next in self.neighbours(node) {
                    if !reached[next] {
                        reached[next] = true;
                        frontier.push(next);
                    }
                }
            }
            reached.into_iter().all(|seen| seen)
        }
    }

    fn assert_well_formed(topology: &Topology) {
        for &(a, b) in topology.links() {
            assert!(a < b, "link ({a}, {b}) is not ordered or is a self-loop");
            assert!(b < topology.nodes(), "link ({a}, {b}) names a missing node");
        }
        let mut sorted = topology.links().to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, topology.links(), "links are not sorted and unique");
    }

    #[test]
    fn mesh_links_every_pair_once() {
        for nodes in [3, 4, 10, 33] {
            let mesh = Topology::mesh(nodes);
            assert_well_formed(&mesh);
            assert_eq!(mesh.links().len(), nodes * (nodes - 1) / 2);
            assert!((0..nodes).all(|node| mesh.neighbours(node).len() == nodes - 1));
            assert!(mesh.is_connected());
        }
    }

    #[test]
    fn ring_gives_every_node_two_neighbours() {
        for nodes in [3, 4, 7, 50] {
            let ring = Topology::ring(nodes);
            assert_well_formed(&ring);
            assert_eq!(ring.links().len(), nodes);
            assert!((0..nodes).all(|node| ring.neighbours(node).len() == 2));
            assert!(ring.is_linked(0, nodes - 1) && ring.is_linked(nodes - 1, 0));
            assert!(ring.is_connected());
        }
        assert!(!Topology::ring(4).is_linked(0, 2));
    }

    #[test]
    fn random_graphs_are_connected_with_the_asked_degree() {
        for nodes in [3, 5, 10, 50] {
            for degree in [2, 3, 4, 8] {
                let degree = degree.min(nodes - 1);
                for seed in 0..20 {
                    let graph = Topology::random(nodes, degree, seed);
                    assert_well_formed(&graph);
                    assert!(graph.is_connected(), "{nodes} nodes, seed {seed}");
                    for node in 0..nodes {
                        let links = graph.neighbours(node).len();
                        assert!(
                            (degree..=degree + 1).contains(&links),
                            "node {node} has {links} links, wanted about {degree}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn random_graphs_depend_only_on_the_seed() {
        assert_eq!(Topology::random(20, 4, 7), Topology::random(20, 4, 7));
        assert_ne!(Topology::random(20, 4, 7), Topology::random(20, 4, 8));
    }

    #[test]
    fn a_split_graph_is_not_connected() {
        let split = Topology::from_links(4, vec![(0, 1), (2, 3)]);
        assert!(!split.is_connected());
        assert_eq!(split.neighbours(2), vec![3]);
    }

    #[test]
    fn apart_from_mesh_leaves_the_first_node_alone_and_links_the_rest() {
        let topology = Topology::apart_from_mesh(3);
        assert_eq!(topology.nodes(), 4);
        assert!(topology.neighbours(0).is_empty());
        assert_eq!(topology.links(), [(1, 2), (1, 3), (2, 3)]);
        assert!(!topology.is_connected());
        assert!(Topology::apart_from_mesh(1).links().is_empty());
    }
}
