use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use super::lock;
use crate::content::{ContentAccount, Post};
use crate::id::{AccountId, PostId};
use crate::store::{
    ContentStore, PostWrite, StoreError, Version, Versioned, stage_account_commit,
    stage_post_append,
};
use crate::text::Label;

#[derive(Debug, Default)]
struct Inner {
    accounts: BTreeMap<AccountId, Versioned<ContentAccount>>,
    posts: BTreeMap<PostId, Post>,
    codes: BTreeMap<Label, PostId>,
}

/// The in-memory [`ContentStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryContentStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryContentStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn after<K: Ord + Copy>(a: Option<K>) -> (Bound<K>, Bound<K>) {
    (
        a.map_or(Bound::Unbounded, Bound::Excluded),
        Bound::Unbounded,
    )
}

impl ContentStore for MemoryContentStore {
    fn account(&self, id: AccountId) -> Result<Option<Versioned<ContentAccount>>, StoreError> {
        Ok(lock(&self.inner).accounts.get(&id).cloned())
    }

    fn commit_account(
        &mut self,
        account: &ContentAccount,
        expected: Option<Version>,
    ) -> Result<Version, StoreError> {
        let mut g = lock(&self.inner);
        let current = g.accounts.get(&account.id()).map(|v| v.version);
        let staged = stage_account_commit(current, expected, account)?;
        let version = staged.version;
        g.accounts.insert(account.id(), staged);
        Ok(version)
    }

    fn accounts(
        &self,
        after_id: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<Versioned<ContentAccount>>, StoreError> {
        Ok(lock(&self.inner)
            .accounts
            .range(after(after_id))
            .take(limit)
            .map(|(_, v)| v.clone())
            .collect())
    }

    fn append_post(&mut self, post: &Post) -> Result<PostWrite, StoreError> {
        let mut g = lock(&self.inner);
        let write = stage_post_append(
            post,
            g.posts.get(&post.id()),
            g.accounts.contains_key(&post.account()),
            g.codes.get(post.code()).copied(),
        )?;
        if write == PostWrite::Stored {
            g.codes.insert(post.code().clone(), post.id());
            g.posts.insert(post.id(), post.clone());
        }
        Ok(write)
    }

    fn post(&self, id: PostId) -> Result<Option<Post>, StoreError> {
        Ok(lock(&self.inner).posts.get(&id).cloned())
    }

    fn post_by_code(&self, code: &Label) -> Result<Option<Post>, StoreError> {
        let g = lock(&self.inner);
        Ok(g.codes.get(code).and_then(|id| g.posts.get(id)).cloned())
    }

    fn posts(&self, after_id: Option<PostId>, limit: usize) -> Result<Vec<Post>, StoreError> {
        Ok(lock(&self.inner)
            .posts
            .range(after(after_id))
            .take(limit)
            .map(|(_, p)| p.clone())
            .collect())
    }
}
