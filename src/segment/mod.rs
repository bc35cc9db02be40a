//! Segmentation: tags, the one expression language, auto-tag rules, RFM, lifecycle and relationship strength.
