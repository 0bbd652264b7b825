//! Values by small ids, each counted by what holds it and forgotten with the last holder, so a
//! value that stops arriving leaves no trace. Window totals hold series names this way, the
//! attribution of alerts the values of other dimensions: stored once however often they recur.

use std::collections::HashMap;
use std::hash::Hash;

type Fold = foldhash::fast::FixedState;

pub struct Interner<T> {
    ids: HashMap<T, u32, Fold>,
    /// Each id's value and how many holders it has; ids of forgotten values wait in `free`.
    values: Vec<(T, u32)>,
    free: Vec<u32>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner { ids: HashMap::default(), values: Vec::new(), free: Vec::new() }
    }
}

impl<T: Clone + Eq + Hash> Interner<T> {
    /// The id of `value`, held by nothing yet when it is new: [`Interner::hold`] it, or
    /// [`Interner::forget_if_unheld`] it.
    pub fn intern(&mut self, value: &T) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.values[id as usize] = (value.clone(), 0);
                id
            }
            None => {
                self.values.push((value.clone(), 0));
                (self.values.len() - 1) as u32
            }
        };
        self.ids.insert(value.clone(), id);
        id
    }

    pub fn get(&self, id: u32) -> &T {
        &self.values[id as usize].0
    }

    pub fn hold(&mut self, id: u32) {
        self.values[id as usize].1 += 1;
    }

    /// One holder fewer; the last one forgets the value.
    pub fn release(&mut self, id: u32) {
        self.values[id as usize].1 -= 1;
        self.forget_if_unheld(id);
    }

    pub fn forget_if_unheld(&mut self, id: u32) {
        let (value, holders) = &self.values[id as usize];
        if *holders == 0 {
            self.ids.remove(value);
            self.free.push(id);
        }
    }

    /// Values known (held by something).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Ids ever handed out: the forgotten ones are reused before this grows.
    pub fn capacity(&self) -> usize {
        self.values.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_forgotten_with_its_last_holder_and_its_id_reused() {
        let mut names: Interner<String> = Interner::default();
        let a = names.intern(&"a".to_string());
        names.hold(a);
        names.hold(a);
        assert_eq!(names.intern(&"a".to_string()), a);
        names.release(a);
        assert_eq!(names.len(), 1, "one holder left");
        names.release(a);
        assert!(names.is_empty());
        let b = names.intern(&"b".to_string());
        assert_eq!((b, names.capacity()), (a, 1), "the id of `a` went to `b`");
        assert_eq!(names.get(b), "b");
        names.forget_if_unheld(b);
        assert!(names.is_empty(), "interned and never held: forgotten on asking");
    }
}
