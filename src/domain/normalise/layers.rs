//! The levels of one message: unwrapping producer wrappers (`data` at any depth, `detection`,
//! `alert`, ...) and batch arrays, then field lookup by alias with outer-level fallbacks.

use super::super::drop::DropReason;
use super::super::event::{EpochMillis, JsonMap};
use super::super::ids::Symbol;
use super::json::{Json, Object};
use super::value::{self, Res};

pub(super) const SYMBOL: &[&str] = &["symbol", "ticker"];
pub(super) const PATTERN_NAME: &[&str] = &["pattern", "pattern_type", "pattern_name"];
pub(super) const INDICATOR_NAME: &[&str] = &["indicator", "indicator_type", "indicator_name"];
pub(super) const TIMESTAMP: &[&str] = &["timestamp", "detected_at"];

/// Keys that, when missing from the innermost object, are read from the enclosing levels.
const INHERITED: &[&str] = &[
    "timestamp",
    "detected_at",
    "source",
    "session_id",
    "flow_id",
    "user_id",
    "symbol",
    "ticker",
    "timeframe",
];

/// Wrappers that are only wrappers when they hold an object (a string `indicator` is the name,
/// a string `event` the producer's discriminator).
const OBJECT_ONLY: &[&str] = &["indicator", "event"];

/// The most levels (the top-level object included) one message may be unwrapped through.
pub(super) const MAX_DEPTH: usize = 32;

/// How one kind's messages are wrapped.
pub(super) struct Shape {
    /// Named wrapper keys, tried in order at every level.
    pub wrappers: &'static [&'static str],
    /// Alias groups that identify the event object: `data` is unwrapped while one is absent.
    pub key_fields: &'static [&'static [&'static str]],
    /// The key of this kind's batch array, if it has one.
    pub batch: Option<&'static str>,
}

/// One message seen through its wrappers: the top-level object and each unwrapped level.
#[derive(Clone)]
pub(super) struct Msg<'a> {
    root: &'a Object<'a>,
    wrapped: Vec<&'a Object<'a>>,
}

pub(super) enum Unwrapped<'a> {
    One(Msg<'a>),
    /// A batch array, found at the innermost level of the message.
    Batch(Msg<'a>, &'a [Json<'a>]),
}

impl<'a> Msg<'a> {
    pub fn new(root: &'a Object<'a>) -> Self {
        Msg {
            root,
            wrapped: Vec::new(),
        }
    }

    pub fn push(&mut self, level: &'a Object<'a>) {
        self.wrapped.push(level);
    }

    pub fn depth(&self) -> usize {
        1 + self.wrapped.len()
    }

    /// The innermost object: the event's own fields.
    pub fn inner(&self) -> &'a Object<'a> {
        self.wrapped.last().copied().unwrap_or(self.root)
    }

    /// Every level, the top-level object first.
    pub fn levels(&self) -> impl DoubleEndedIterator<Item = &'a Object<'a>> + '_ {
        std::iter::once(self.root).chain(self.wrapped.iter().copied())
    }

    /// The first non-null alias in the innermost object or, for the inherited keys
    /// (timestamp, source, session_id, flow_id, user_id, symbol, timeframe), in the nearest
    /// enclosing level that has one.
    pub fn get(&self, aliases: &[&str]) -> Option<&'a Json<'a>> {
        if aliases.iter().any(|a| INHERITED.contains(a)) {
            self.levels().rev().find_map(|m| lookup(m, aliases))
        } else {
            self.own(aliases)
        }
    }

    /// The first non-null alias in the innermost object only.
    pub fn own(&self, aliases: &[&str]) -> Option<&'a Json<'a>> {
        lookup(self.inner(), aliases)
    }

    /// Those of `keys` the innermost object has (not null), as owned JSON: for fields forwarded
    /// as they came.
    pub fn own_fields(&self, keys: &[&str]) -> JsonMap {
        keys.iter()
            .filter_map(|k| self.own(&[k]).map(|v| ((*k).to_owned(), v.to_value())))
            .collect()
    }

    /// The first non-null alias, searching from the top-level object inwards.
    pub fn outer_first(&self, aliases: &[&str]) -> Option<&'a Json<'a>> {
        self.levels().find_map(|m| lookup(m, aliases))
    }

    /// The symbol under any alias; absent or rejected by `Symbol::new` is `MissingSymbol`.
    pub fn symbol(&self) -> Res<Symbol> {
        self.optional_symbol()
            .unwrap_or(Err(DropReason::MissingSymbol))
    }

    /// `None` when absent; `MissingSymbol` when present but unusable.
    pub fn optional_symbol(&self) -> Option<Res<Symbol>> {
        let raw = self.get(SYMBOL)?;
        let symbol = value::text(Some(raw)).ok().flatten();
        Some(
            symbol
                .and_then(|s| Symbol::new(&s))
                .ok_or(DropReason::MissingSymbol),
        )
    }

    /// The first alias of the innermost object holding a non-blank name, else `MissingName`.
    pub fn name(&self, aliases: &[&str]) -> Res<String> {
        aliases
            .iter()
            .filter_map(|a| value::text(self.own(&[a])).ok().flatten())
            .map(|s| s.trim().to_owned())
            .find(|s| !s.is_empty())
            .ok_or(DropReason::MissingName)
    }

    /// The event time (`timestamp` | `detected_at`, inherited), else the receive time.
    pub fn time(&self, received_at: EpochMillis) -> Res<EpochMillis> {
        Ok(value::timestamp(self.get(TIMESTAMP))?.unwrap_or(received_at))
    }

    /// Unwraps `shape`'s wrappers from the innermost level down; with `allow_batch`, stops at
    /// the first level holding the kind's batch array.
    pub fn peel(mut self, shape: &Shape, allow_batch: bool) -> Res<Unwrapped<'a>> {
        loop {
            if self.depth() > MAX_DEPTH {
                return Err(DropReason::InvalidValue);
            }
            let cur = self.inner();
            if let (true, Some(key)) = (allow_batch, shape.batch) {
                if let Some(Json::Array(items)) = cur.get(key) {
                    return Ok(Unwrapped::Batch(self, items));
                }
            }
            if let Some(next) = named_wrapper(cur, shape.wrappers)? {
                self.push(next);
                continue;
            }
            if !shape
                .key_fields
                .iter()
                .all(|group| self.get(group).is_some())
            {
                match cur.get("data") {
                    Some(Json::Object(next)) => {
                        self.push(next);
                        continue;
                    }
                    Some(Json::Null) | None => {}
                    Some(_) => return Err(DropReason::NotAnObject),
                }
            }
            return Ok(Unwrapped::One(self));
        }
    }
}

fn lookup<'a>(map: &'a Object<'a>, aliases: &[&str]) -> Option<&'a Json<'a>> {
    aliases
        .iter()
        .find_map(|k| map.get(k).filter(|v| !v.is_null()))
}

/// The first of `wrappers` present in `cur`: an object is the next level; `null` is
/// `InvalidValue` and anything else `NotAnObject` (except for the object-only wrappers).
fn named_wrapper<'a>(cur: &'a Object<'a>, wrappers: &[&str]) -> Res<Option<&'a Object<'a>>> {
    for key in wrappers {
        match cur.get(key) {
            None => {}
            Some(Json::Object(next)) => return Ok(Some(next)),
            Some(_) if OBJECT_ONLY.contains(key) => {}
            Some(Json::Null) => return Err(DropReason::InvalidValue),
            Some(_) => return Err(DropReason::NotAnObject),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::{json, Value};

    const PATTERN: Shape = Shape {
        wrappers: &["detection", "event"],
        key_fields: &[SYMBOL, PATTERN_NAME],
        batch: Some("patterns"),
    };

    fn obj(v: Value) -> Object<'static> {
        match Json::deserialize(v) {
            Ok(Json::Object(m)) => m,
            _ => panic!("not an object"),
        }
    }

    fn one<'a>(root: &'a Object<'a>, shape: &Shape) -> Res<Msg<'a>> {
        match Msg::new(root).peel(shape, true)? {
            Unwrapped::One(m) => Ok(m),
            Unwrapped::Batch(..) => panic!("unexpected batch"),
        }
    }

    fn nested(depth: usize) -> Object<'static> {
        let mut v = json!({"symbol": "META", "pattern": "Doji"});
        for _ in 1..depth {
            v = json!({ "data": v });
        }
        obj(v)
    }

    #[test]
    fn aliases_are_tried_in_order() {
        let root = obj(json!({"ticker": "aapl", "pattern_type": "X", "pattern_name": "Y"}));
        let m = Msg::new(&root);
        assert_eq!(m.symbol().map(|s| s.to_string()), Ok("AAPL".to_owned()));
        assert_eq!(m.name(PATTERN_NAME), Ok("X".to_owned()));
        let root = obj(json!({"pattern": " ", "pattern_name": "Hammer", "symbol": "A B"}));
        let m = Msg::new(&root);
        assert_eq!(m.name(PATTERN_NAME), Ok("Hammer".to_owned()));
        assert_eq!(m.symbol(), Err(DropReason::MissingSymbol));
        let root = obj(json!({"indicator": {"x": 1}, "symbol": null}));
        let m = Msg::new(&root);
        assert_eq!(m.name(INDICATOR_NAME), Err(DropReason::MissingName));
        assert_eq!(m.symbol(), Err(DropReason::MissingSymbol));
        assert!(m.optional_symbol().is_none());
    }

    #[test]
    fn data_is_unwrapped_at_any_depth_up_to_the_limit() {
        let root = nested(MAX_DEPTH);
        let m = one(&root, &PATTERN).unwrap();
        assert_eq!(m.depth(), MAX_DEPTH);
        assert_eq!(m.name(PATTERN_NAME), Ok("Doji".to_owned()));
        let root = nested(MAX_DEPTH + 1);
        assert_eq!(one(&root, &PATTERN).err(), Some(DropReason::InvalidValue));
    }

    #[test]
    fn data_is_kept_as_a_field_when_key_fields_are_present() {
        let root = obj(json!({"symbol": "A", "pattern": "B", "data": "metadata"}));
        assert_eq!(one(&root, &PATTERN).map(|m| m.depth()).ok(), Some(1));
        let root = obj(json!({"symbol": "A", "data": "metadata"}));
        assert_eq!(one(&root, &PATTERN).err(), Some(DropReason::NotAnObject));
        // The symbol inherited from the outside counts as present.
        let root = obj(json!({"symbol": "A", "detection": {"pattern": "B", "data": {"x": 1}}}));
        assert_eq!(one(&root, &PATTERN).map(|m| m.depth()).ok(), Some(2));
    }

    #[test]
    fn named_wrappers_must_be_objects() {
        let root = obj(json!({"detection": "Doji@NVDA"}));
        assert_eq!(one(&root, &PATTERN).err(), Some(DropReason::NotAnObject));
        let root = obj(json!({"detection": null}));
        assert_eq!(one(&root, &PATTERN).err(), Some(DropReason::InvalidValue));
        let root = obj(json!({"event": "pattern_detected", "detection": {"symbol": "A"}}));
        assert_eq!(one(&root, &PATTERN).map(|m| m.depth()).ok(), Some(2));
        let root = obj(json!({"event": {"detection": {"symbol": "A"}}}));
        assert_eq!(one(&root, &PATTERN).map(|m| m.depth()).ok(), Some(3));
    }

    #[test]
    fn inherited_fields_fall_back_outwards_and_others_do_not() {
        let root = obj(json!({
            "timestamp": 1.0, "source": "outer", "session_id": "s", "flow_id": "f", "tier": "t",
            "data": {"flow_id": "mid", "data": {"symbol": "X", "pattern": "P", "source": "in"}}
        }));
        let m = one(&root, &PATTERN).unwrap();
        assert_eq!(m.depth(), 3);
        assert_eq!(m.get(&["source"]).map(Json::to_value), Some(json!("in")));
        assert_eq!(m.get(&["flow_id"]).map(Json::to_value), Some(json!("mid")));
        assert_eq!(m.get(&["session_id"]).map(Json::to_value), Some(json!("s")));
        assert_eq!(m.get(TIMESTAMP).map(Json::to_value), Some(json!(1.0)));
        assert_eq!(
            m.outer_first(&["source"]).map(Json::to_value),
            Some(json!("outer"))
        );
        assert_eq!(m.get(&["tier"]), None);
        assert_eq!(m.time(EpochMillis(5)), Ok(EpochMillis(1000)));
    }

    #[test]
    fn batches_are_found_after_unwrapping() {
        let root = obj(json!({"data": {"source": "s", "patterns": [1, 2]}}));
        match Msg::new(&root).peel(&PATTERN, true) {
            Ok(Unwrapped::Batch(m, items)) => {
                assert_eq!((m.depth(), items.len()), (2, 2));
            }
            _ => panic!("expected a batch"),
        }
        // Inside a batch element, a nested batch is not unpacked again.
        assert!(matches!(
            Msg::new(&root).peel(&PATTERN, false),
            Ok(Unwrapped::One(_))
        ));
    }
}
