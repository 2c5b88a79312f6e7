//! Where the parent keeps its tasks: a queue indexed by task id.
//!
//! Task ids are handed out 0, 1, 2... and tasks mostly finish roughly in that order, so the
//! tasks alive at any moment are a window of consecutive ids. A `VecDeque` of slots, indexed by
//! `id - base`, finds a task with one subtraction and keeps neighbours next to each other in
//! memory. (A `HashMap` spent most of `map --chunksize 1`'s time hashing and missing the cache.)
//! When the oldest slots are empty, the window slides forward.
//!
//! The cost: a task whose handle you keep forever pins the window's start, so the slots after
//! it (8 bytes each when empty) stay until it goes.

use std::collections::VecDeque;

/// Values keyed by consecutive ids, inserted in id order.
#[derive(Debug)]
pub struct Slab<T> {
    base: u64,
    slots: VecDeque<Option<Box<T>>>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            base: 0,
            slots: VecDeque::new(),
        }
    }
}

impl<T> Slab<T> {
    fn index(&self, id: u64) -> Option<usize> {
        id.checked_sub(self.base)
            .map(|i| i as usize)
            .filter(|&i| i < self.slots.len())
    }

    /// Store `v` under `id`, which must be above every id stored so far.
    pub fn insert(&mut self, id: u64, v: T) {
        if self.slots.is_empty() {
            self.base = id;
        }
        let at = (id - self.base) as usize;
        while self.slots.len() < at {
            self.slots.push_back(None);
        }
        self.slots.push_back(Some(Box::new(v)));
    }

    /// The value under `id`.
    pub fn get(&self, id: &u64) -> Option<&T> {
        self.index(*id).and_then(|i| self.slots[i].as_deref())
    }

    /// The value under `id`, mutable.
    pub fn get_mut(&mut self, id: &u64) -> Option<&mut T> {
        self.index(*id).and_then(|i| self.slots[i].as_deref_mut())
    }

    /// Take the value under `id` out.
    pub fn remove(&mut self, id: &u64) -> Option<T> {
        let i = self.index(*id)?;
        let v = self.slots[i].take();
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.base += 1;
        }
        v.map(|b| *b)
    }

    /// Every stored (id, value).
    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        let base = self.base;
        self.slots
            .iter()
            .enumerate()
            .filter_map(move |(i, s)| s.as_deref().map(|v| (base + i as u64, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slides_as_the_oldest_go() {
        let mut s = Slab::default();
        for id in 10..15u64 {
            s.insert(id, id * 2);
        }
        assert_eq!(s.get(&12), Some(&24));
        assert_eq!(s.remove(&11), Some(22));
        assert_eq!(s.get(&11), None);
        assert_eq!(s.remove(&10), Some(20));
        assert_eq!(s.base, 12); // 10 and 11 gone from the front
        assert_eq!(
            s.iter().map(|(i, _)| i).collect::<Vec<_>>(),
            vec![12, 13, 14]
        );
        assert_eq!(s.get(&9), None);
        assert_eq!(s.get(&99), None);
        for id in 12..15 {
            s.remove(&id);
        }
        s.insert(40, 1);
        assert_eq!(s.get(&40), Some(&1));
    }
}
