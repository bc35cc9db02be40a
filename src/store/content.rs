//! The content storage port: accounts and their posts.

use super::{StoreError, Version, Versioned};
use crate::content::{ContentAccount, Post};
use crate::id::{AccountId, PostId};
use crate::text::Label;

/// What appending a post did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum PostWrite {
    /// The post was new and is stored.
    Stored,
    /// The same post was already stored: a retry, nothing written.
    Unchanged,
}

/// Where content accounts and posts are kept.
///
/// Accounts are documents replaced whole under an optimistic [`Version`] (their terms
/// change). Posts are append-only records keyed by their id, like visits: appending a
/// stored post again is a no-op ([`PostWrite::Unchanged`]), so a retry is a comparison;
/// the same id with other content is [`StoreError::RecordConflict`]. A post's channel code
/// is unique across posts, as leads are attributed by it: a code already held by another
/// post is [`StoreError::Duplicate`] naming the holder, and a post of an account not
/// stored is [`StoreError::NotFound`]. Accounts and posts hold no patient data.
pub trait ContentStore {
    /// Loads an account and its version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn account(&self, id: AccountId) -> Result<Option<Versioned<ContentAccount>>, StoreError>;

    /// Stores `account` if the stored version is still `expected` (`None`: no account with
    /// its id yet), and returns the new version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] on a stale `expected`, [`StoreError::Backend`].
    fn commit_account(
        &mut self,
        account: &ContentAccount,
        expected: Option<Version>,
    ) -> Result<Version, StoreError>;

    /// Up to `limit` accounts with ids greater than `after`, in ascending id order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn accounts(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<Versioned<ContentAccount>>, StoreError>;

    /// Appends a post, atomically with its checks.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] for an unknown account, [`StoreError::Duplicate`] for a
    /// channel code held by another post, [`StoreError::RecordConflict`] for a post id
    /// stored with other content, [`StoreError::Backend`].
    fn append_post(&mut self, post: &Post) -> Result<PostWrite, StoreError>;

    /// Loads a post.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn post(&self, id: PostId) -> Result<Option<Post>, StoreError>;

    /// The post holding a channel code (what a registration carries).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn post_by_code(&self, code: &Label) -> Result<Option<Post>, StoreError>;

    /// Up to `limit` posts with ids greater than `after`, in ascending id order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn posts(&self, after: Option<PostId>, limit: usize) -> Result<Vec<Post>, StoreError>;
}

/// The rule of [`ContentStore::commit_account`], shared by every adapter: checks
/// `expected` against the stored version and gives the account with its new version.
///
/// # Errors
///
/// [`StoreError::Conflict`] on a stale version.
pub fn stage_account_commit(
    current: Option<Version>,
    expected: Option<Version>,
    account: &ContentAccount,
) -> Result<Versioned<ContentAccount>, StoreError> {
    if current != expected {
        return Err(StoreError::Conflict {
            expected,
            actual: current,
        });
    }
    Ok(Versioned {
        value: account.clone(),
        version: Version::after(expected)?,
    })
}

/// The rule of [`ContentStore::append_post`], shared by every adapter, given what the
/// store holds: the post stored under the id, whether the account exists, and the post
/// holding the code.
///
/// # Errors
///
/// As [`ContentStore::append_post`].
pub fn stage_post_append(
    post: &Post,
    stored: Option<&Post>,
    account_exists: bool,
    code_holder: Option<PostId>,
) -> Result<PostWrite, StoreError> {
    match stored {
        Some(s) if s == post => return Ok(PostWrite::Unchanged),
        Some(_) => {
            return Err(StoreError::RecordConflict {
                what: "post",
                id: post.id().to_string(),
            });
        }
        None => {}
    }
    if !account_exists {
        return Err(StoreError::NotFound {
            what: "account",
            key: post.account().to_string(),
        });
    }
    if let Some(holder) = code_holder.filter(|h| *h != post.id()) {
        return Err(StoreError::Duplicate {
            what: "post channel code",
            key: post.code().to_string(),
            holder: holder.to_string(),
        });
    }
    Ok(PostWrite::Stored)
}
