//! The care follow-up planner (诊后随访): due and overdue care tasks from chronic files, visits, fills and consent.
