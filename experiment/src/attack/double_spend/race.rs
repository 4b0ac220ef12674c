//! One double-spend race as the attacker plays it, block by block.
//!
//! The attacker mines a private branch from the parent of the block that confirms the
//! post. Once the honest branch has `z` blocks (the merchant relies on the post), the
//! attacker publishes whenever its branch is at least as long as the honest one and it has
//! blocks the nodes have not seen: a branch that only catches up wins under the counting of
//! Nakamoto and Rosenfeld, so the attacker tries it, and the nodes decide. It gives up once
//! the honest branch leads by `give_up_behind` blocks after that moment.
//!
//! Boundary: pure; the runner draws the finders and asks the nodes what a publish did.

use serde::{Deserialize, Serialize};

use crate::attack_theory::TieRule;

/// Who found a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finder {
    Attacker,
    Honest,
}

impl Finder {
    /// The letter a trial's record writes for it.
    pub(crate) fn letter(self) -> char {
        match self {
            Finder::Attacker => 'A',
            Finder::Honest => 'H',
        }
    }

    fn from_letter(letter: char) -> Option<Self> {
        match letter {
            'A' => Some(Finder::Attacker),
            'H' => Some(Finder::Honest),
            _ => None,
        }
    }
}

/// What the attacker does after a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Move {
    /// Mine on.
    Mine,
    /// Show the nodes its branch: at least as long as theirs, with blocks they lack.
    Publish,
    /// Stop: the honest branch is too far ahead.
    GiveUp,
}

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The nodes took the attacker's branch: the block that confirmed the post left the
    /// chain.
    Rewritten,
    /// The attacker gave up; the post stayed confirmed.
    GaveUp,
}

/// The state of one race.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Race {
    confirmations: u32,
    give_up_behind: u32,
    attacker: u32,
    honest: u32,
    /// The attacker's blocks the nodes have been shown.
    published: u32,
}

impl Race {
    pub(crate) fn new(confirmations: u32, give_up_behind: u32) -> Self {
        Race {
            confirmations,
            give_up_behind,
            attacker: 0,
            honest: 0,
            published: 0,
        }
    }

    /// The attacker's move after `finder` found the next block.
    pub(crate) fn found(&mut self, finder: Finder) -> Move {
        match finder {
            Finder::Attacker => self.attacker += 1,
            Finder::Honest => self.honest += 1,
        }
        if self.honest < self.confirmations {
            Move::Mine
        } else if self.attacker >= self.honest && self.attacker > self.published {
            Move::Publish
        } else if self.honest.saturating_sub(self.attacker) >= self.give_up_behind {
            Move::GiveUp
        } else {
            Move::Mine
        }
    }

    /// The nodes were shown the branch and kept their own: it only tied.
    pub(crate) fn shown(&mut self) {
        self.published = self.attacker;
    }

    /// Whether the attacker's branch is longer than the honest one (not a tie).
    pub(crate) fn attacker_leads(&self) -> bool {
        self.attacker > self.honest
    }
}

/// How the race of `finders` ends if the nodes break ties by `rule`: `None` if the
/// sequence stops before that, or goes on after it (it is not the race that rule gives),
/// or holds a letter other than `A` and `H`.
pub(crate) fn outcome_under(
    rule: TieRule,
    confirmations: u32,
    give_up_behind: u32,
    finders: &str,
) -> Option<Outcome> {
    let mut race = Race::new(confirmations, give_up_behind);
    let count = finders.chars().count();
    for (index, letter) in finders.chars().enumerate() {
        let decided = match race.found(Finder::from_letter(letter)?) {
            Move::Mine => None,
            Move::GiveUp => Some(Outcome::GaveUp),
            Move::Publish if race.attacker_leads() || rule == TieRule::AttackerWins => {
                Some(Outcome::Rewritten)
            }
            Move::Publish => {
                race.shown();
                None
            }
        };
        if let Some(outcome) = decided {
            return (index + 1 == count).then_some(outcome);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    fn moves(confirmations: u32, give_up_behind: u32, finders: &str) -> String {
        let mut race = Race::new(confirmations, give_up_behind);
        finders
            .chars()
            .map(|letter| {
                let finder = Finder::from_letter(letter).expect("A or H");
                match race.found(finder) {
                    Move::Mine => '.',
                    Move::Publish => {
                        race.shown();
                        'P'
                    }
                    Move::GiveUp => 'G',
                }
            })
            .collect()
    }

    #[test]
    fn the_attacker_waits_for_the_merchant_then_publishes_when_level_or_ahead() {
        // Ahead before the third confirmation: nothing yet; level at it: publish.
        assert_eq!(moves(3, 5, "AAHAHH"), ".....P");
        // Ahead at it: publish at once; level later: publish, and again only with a new
        // block.
        assert_eq!(moves(1, 5, "AAH"), "..P");
        assert_eq!(moves(1, 5, "HAH"), ".P.");
        assert_eq!(moves(1, 5, "HAHA"), ".P.P");
    }

    #[test]
    fn the_attacker_gives_up_only_after_the_merchant_relies_on_the_post() {
        assert_eq!(moves(4, 2, "HHHH"), "...G");
        assert_eq!(moves(1, 2, "HAHH"), ".P.G");
        assert_eq!(moves(1, 3, "HAHH"), ".P..");
    }

    #[test]
    fn the_tie_rule_decides_whether_catching_up_wins() {
        // Level at the first confirmation, then ahead.
        let finders = "AHA";
        assert_eq!(
            outcome_under(TieRule::FirstSeen, 1, 5, finders),
            Some(Outcome::Rewritten)
        );
        assert_eq!(outcome_under(TieRule::AttackerWins, 1, 5, finders), None);
        assert_eq!(
            outcome_under(TieRule::AttackerWins, 1, 5, "AH"),
            Some(Outcome::Rewritten)
        );
        assert_eq!(outcome_under(TieRule::FirstSeen, 1, 5, "AH"), None);
        assert_eq!(
            outcome_under(TieRule::FirstSeen, 2, 2, "HAHH"),
            Some(Outcome::GaveUp)
        );
        assert_eq!(outcome_under(TieRule::FirstSeen, 2, 2, "HAHHH"), None);
        assert_eq!(outcome_under(TieRule::FirstSeen, 2, 2, "HAXHH"), None);
    }

    proptest! {
        #[test]
        fn every_race_ends_in_a_lead_or_a_give_up_and_only_there(
            attacker_blocks in proptest::collection::vec(any::<bool>(), 1..200),
            confirmations in 1u32..8,
            give_up_behind in 1u32..12,
        ) {
            let mut race = Race::new(confirmations, give_up_behind);
            let (mut attacker, mut honest) = (0i64, 0i64);
            for found_by_attacker in attacker_blocks {
                let finder = if found_by_attacker { Finder::Attacker } else { Finder::Honest };
                if found_by_attacker { attacker += 1 } else { honest += 1 }
                let accepted = honest >= i64::from(confirmations);
                match race.found(finder) {
                    Move::Publish => {
                        prop_assert!(accepted && attacker >= honest);
                        if race.attacker_leads() {
                            break;
                        }
                        race.shown();
                    }
                    Move::GiveUp => {
                        prop_assert!(accepted && honest - attacker >= i64::from(give_up_behind));
                        break;
                    }
                    Move::Mine => prop_assert!(
                        !accepted
                            || (attacker <= honest
                                && honest - attacker < i64::from(give_up_behind))
                    ),
                }
            }
        }
    }
}
