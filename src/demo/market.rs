//! The simulated market: a catalogue of well-known tickers and, per symbol, a mean-reverting
//! random walk with its session volume, the bar being built and the indicator state derived from
//! the walk (RSI, SMA5, EMA20, MACD, Bollinger bands).

use std::collections::VecDeque;

use fastrand::Rng;

/// A ticker and where its simulated session starts.
struct Listing {
    symbol: &'static str,
    /// Recent real-world price level, so the dashboard looks familiar.
    price: f64,
    /// Average shares traded per regular session.
    daily_volume: f64,
    /// Multiplier on the base step size: ETFs move less than high-beta names.
    volatility: f64,
    etf: bool,
}

const fn stock(symbol: &'static str, price: f64, daily_millions: f64, volatility: f64) -> Listing {
    Listing {
        symbol,
        price,
        daily_volume: daily_millions * 1e6,
        volatility,
        etf: false,
    }
}

const fn etf(symbol: &'static str, price: f64, daily_millions: f64) -> Listing {
    Listing {
        symbol,
        price,
        daily_volume: daily_millions * 1e6,
        volatility: 0.5,
        etf: true,
    }
}

/// Most familiar first, so `--symbols N` simulates the N a user expects to see.
const CATALOGUE: [Listing; 50] = [
    stock("AAPL", 229.0, 50.0, 1.0),
    stock("MSFT", 420.0, 20.0, 0.9),
    stock("NVDA", 185.0, 180.0, 1.6),
    stock("TSLA", 250.0, 90.0, 2.0),
    stock("AMZN", 220.0, 40.0, 1.1),
    stock("GOOGL", 245.0, 30.0, 1.0),
    stock("META", 710.0, 12.0, 1.3),
    stock("AMD", 160.0, 45.0, 1.6),
    stock("JPM", 300.0, 9.0, 0.8),
    etf("SPY", 660.0, 70.0),
    etf("QQQ", 600.0, 45.0),
    stock("NFLX", 1200.0, 3.0, 1.3),
    stock("AVGO", 340.0, 20.0, 1.4),
    stock("BRK.B", 490.0, 4.0, 0.6),
    stock("V", 345.0, 6.0, 0.7),
    stock("MA", 570.0, 3.0, 0.7),
    stock("UNH", 350.0, 8.0, 1.1),
    stock("XOM", 115.0, 15.0, 0.8),
    stock("JNJ", 190.0, 7.0, 0.6),
    stock("WMT", 100.0, 15.0, 0.7),
    stock("PG", 155.0, 7.0, 0.6),
    stock("HD", 400.0, 3.5, 0.8),
    stock("COST", 920.0, 2.0, 0.8),
    stock("BAC", 50.0, 35.0, 0.9),
    stock("KO", 68.0, 14.0, 0.5),
    stock("PEP", 150.0, 6.0, 0.6),
    stock("ORCL", 300.0, 12.0, 1.4),
    stock("CRM", 245.0, 7.0, 1.2),
    stock("ADBE", 350.0, 3.5, 1.2),
    stock("INTC", 37.0, 90.0, 1.5),
    stock("CSCO", 68.0, 18.0, 0.7),
    stock("DIS", 112.0, 9.0, 0.9),
    stock("NKE", 70.0, 12.0, 1.1),
    stock("PFE", 25.0, 40.0, 0.8),
    stock("MRK", 85.0, 12.0, 0.7),
    stock("ABBV", 230.0, 6.0, 0.8),
    stock("CVX", 155.0, 8.0, 0.8),
    stock("WFC", 82.0, 16.0, 0.9),
    stock("GS", 780.0, 2.0, 1.0),
    stock("MS", 155.0, 6.0, 1.0),
    stock("IBM", 280.0, 4.0, 0.8),
    stock("QCOM", 165.0, 8.0, 1.2),
    stock("TXN", 180.0, 6.0, 1.0),
    stock("UBER", 95.0, 18.0, 1.4),
    stock("PYPL", 68.0, 14.0, 1.3),
    stock("SHOP", 150.0, 10.0, 1.8),
    stock("PLTR", 180.0, 60.0, 2.0),
    etf("IWM", 245.0, 30.0),
    etf("DIA", 460.0, 3.0),
    etf("GLD", 380.0, 9.0),
];

/// How many symbols the demo can simulate.
pub(super) const MAX_SYMBOLS: usize = CATALOGUE.len();

/// Standard deviation of one step of the log price, before the ticker's own factor.
const STEP_SIGMA: f64 = 0.0005;
/// Pull of the log price back toward the session open, per step. It keeps a demo left running
/// for hours inside a realistic intraday range (stationary spread ~ STEP_SIGMA / sqrt(2 x this),
/// about 0.8 %) instead of drifting like an unbounded walk.
const REVERSION: f64 = 0.002;
/// Length of a regular US session: spreads `daily_volume` over time.
const SESSION_SECONDS: f64 = 23_400.0;
const RSI_PERIOD: f64 = 14.0;
/// Prices kept per symbol: the Bollinger window, the longest one needing raw history.
const HISTORY: usize = 20;

/// A symbol's state as of its latest trade.
#[derive(Debug, Clone, Copy)]
pub(super) struct Quote {
    pub symbol: &'static str,
    pub price: f64,
    /// The session open, which `change` and `change_percent` are measured against.
    pub open: f64,
    /// Cumulative shares traded this session, as price feeds report `volume`.
    pub session_volume: u64,
    pub etf: bool,
}

impl Quote {
    pub fn change(&self) -> f64 {
        self.price - self.open
    }

    /// Percent units (0.2 means 0.2 %), as the price channel's `change_percent` is defined.
    pub fn change_percent(&self) -> f64 {
        (self.price / self.open - 1.0) * 100.0
    }
}

/// One simulated trade: the quote after it and the shares it moved.
#[derive(Debug, Clone, Copy)]
pub(super) struct Trade {
    pub quote: Quote,
    pub size: u64,
}

/// The bar built from the trades since the previous bar of that symbol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Bar {
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: u64,
}

impl Bar {
    fn starting_at(price: f64) -> Self {
        Self {
            open: price,
            high: price,
            low: price,
            close: price,
            volume: 0,
        }
    }
}

/// Indicator readings over the symbol's trade-by-trade prices.
#[derive(Debug, Clone, Copy)]
pub(super) struct Indicators {
    pub price: f64,
    pub rsi: f64,
    pub sma5: f64,
    pub ema20: f64,
    pub macd: f64,
    pub macd_signal: f64,
    pub bollinger_upper: f64,
    pub bollinger_middle: f64,
    pub bollinger_lower: f64,
}

struct Symbol {
    listing: &'static Listing,
    price: f64,
    open: f64,
    session_volume: u64,
    /// Typical shares per simulated trade, chosen so cumulative volume grows at the ticker's real
    /// daily pace whatever the demo's rate.
    mean_trade: f64,
    bar: Bar,
    history: VecDeque<f64>,
    ema12: f64,
    ema20: f64,
    ema26: f64,
    macd_signal: f64,
    average_gain: f64,
    average_loss: f64,
}

impl Symbol {
    fn new(listing: &'static Listing, trades_per_second: f64, rng: &mut Rng) -> Self {
        // Start near the catalogue price and part-way through a session, as if the demo joined
        // a live market.
        let open = listing.price * (1.0 + 0.01 * gaussian(rng));
        let session_volume = (listing.daily_volume * (0.25 + 0.3 * rng.f64())) as u64;
        Self {
            listing,
            price: open,
            open,
            session_volume,
            mean_trade: listing.daily_volume / SESSION_SECONDS / trades_per_second,
            bar: Bar::starting_at(open),
            history: VecDeque::from([open]),
            ema12: open,
            ema20: open,
            ema26: open,
            macd_signal: 0.0,
            // Equal seeds make the RSI start at a neutral 50.
            average_gain: open * STEP_SIGMA,
            average_loss: open * STEP_SIGMA,
        }
    }

    fn step(&mut self, rng: &mut Rng) -> u64 {
        let previous = self.price;
        let reversion = -REVERSION * (self.price / self.open).ln();
        self.price *= (STEP_SIGMA * self.listing.volatility * gaussian(rng) + reversion).exp();

        let size = self.trade_size(rng);
        self.session_volume += size;
        self.bar.high = self.bar.high.max(self.price);
        self.bar.low = self.bar.low.min(self.price);
        self.bar.close = self.price;
        self.bar.volume += size;

        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(self.price);
        self.ema12 = ema(self.ema12, self.price, 12.0);
        self.ema20 = ema(self.ema20, self.price, 20.0);
        self.ema26 = ema(self.ema26, self.price, 26.0);
        self.macd_signal = ema(self.macd_signal, self.ema12 - self.ema26, 9.0);
        let change = self.price - previous;
        self.average_gain += (change.max(0.0) - self.average_gain) / RSI_PERIOD;
        self.average_loss += ((-change).max(0.0) - self.average_loss) / RSI_PERIOD;
        size
    }

    /// Log-normal around the mean, in round lots once trades are big enough to have them.
    fn trade_size(&self, rng: &mut Rng) -> u64 {
        let shares = self.mean_trade * (0.7 * gaussian(rng)).exp();
        if shares >= 100.0 {
            ((shares / 100.0).round() * 100.0) as u64
        } else {
            shares.round().max(1.0) as u64
        }
    }

    fn quote(&self) -> Quote {
        Quote {
            symbol: self.listing.symbol,
            price: self.price,
            open: self.open,
            session_volume: self.session_volume,
            etf: self.listing.etf,
        }
    }

    fn indicators(&self) -> Indicators {
        let count = self.history.len() as f64;
        let middle = self.history.iter().sum::<f64>() / count;
        let variance = self
            .history
            .iter()
            .map(|p| (p - middle).powi(2))
            .sum::<f64>()
            / count;
        let recent = self.history.len().min(5);
        let sma5 = self.history.iter().rev().take(recent).sum::<f64>() / recent as f64;
        let rsi = if self.average_loss == 0.0 {
            100.0
        } else {
            100.0 - 100.0 / (1.0 + self.average_gain / self.average_loss)
        };
        Indicators {
            price: self.price,
            rsi,
            sma5,
            ema20: self.ema20,
            macd: self.ema12 - self.ema26,
            macd_signal: self.macd_signal,
            bollinger_upper: middle + 2.0 * variance.sqrt(),
            bollinger_middle: middle,
            bollinger_lower: middle - 2.0 * variance.sqrt(),
        }
    }
}

fn ema(previous: f64, value: f64, period: f64) -> f64 {
    previous + 2.0 / (period + 1.0) * (value - previous)
}

/// A standard normal draw (Box-Muller); fastrand only offers uniforms.
pub(super) fn gaussian(rng: &mut Rng) -> f64 {
    let u1 = rng.f64().max(f64::MIN_POSITIVE);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * rng.f64()).cos()
}

/// The simulated symbols, indexed `0..count()` in catalogue order.
pub(super) struct Market {
    symbols: Vec<Symbol>,
    rng: Rng,
}

impl Market {
    /// `count` is clamped to the catalogue; `trades_per_second` is the total trade flow the
    /// caller will request, used to size trades realistically.
    pub fn new(count: usize, trades_per_second: f64, seed: u64) -> Self {
        let mut rng = Rng::with_seed(seed);
        let count = count.clamp(1, MAX_SYMBOLS);
        let per_symbol = (trades_per_second / count as f64).max(f64::EPSILON);
        let symbols = CATALOGUE[..count]
            .iter()
            .map(|listing| Symbol::new(listing, per_symbol, &mut rng))
            .collect();
        Self { symbols, rng }
    }

    pub fn count(&self) -> usize {
        self.symbols.len()
    }

    pub fn symbol(&self, index: usize) -> &'static str {
        self.symbols[index].listing.symbol
    }

    /// Moves the symbol's price one step and books a trade there.
    pub fn trade(&mut self, index: usize) -> Trade {
        let symbol = &mut self.symbols[index];
        let size = symbol.step(&mut self.rng);
        Trade {
            quote: symbol.quote(),
            size,
        }
    }

    pub fn quote(&self, index: usize) -> Quote {
        self.symbols[index].quote()
    }

    pub fn quotes(&self) -> impl Iterator<Item = Quote> + '_ {
        self.symbols.iter().map(Symbol::quote)
    }

    /// The bar in progress, without closing it.
    pub fn bar(&self, index: usize) -> Bar {
        self.symbols[index].bar
    }

    /// Closes the bar in progress; the next one opens at its close.
    pub fn take_bar(&mut self, index: usize) -> Bar {
        let symbol = &mut self.symbols[index];
        std::mem::replace(&mut symbol.bar, Bar::starting_at(symbol.price))
    }

    pub fn indicators(&self, index: usize) -> Indicators {
        self.symbols[index].indicators()
    }

    /// The ticker's average volume per minute of a regular session.
    pub fn minute_volume(&self, index: usize) -> f64 {
        self.symbols[index].listing.daily_volume / (SESSION_SECONDS / 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_starts_with_the_default_twelve() {
        let market = Market::new(12, 50.0, 1);
        let symbols: Vec<_> = (0..market.count()).map(|i| market.symbol(i)).collect();
        assert_eq!(
            symbols,
            [
                "AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "GOOGL", "META", "AMD", "JPM", "SPY",
                "QQQ", "NFLX"
            ]
        );
        assert_eq!(Market::new(500, 50.0, 1).count(), MAX_SYMBOLS);
        assert_eq!(Market::new(0, 50.0, 1).count(), 1);
    }

    #[test]
    fn walk_stays_positive_and_near_the_open() {
        let mut market = Market::new(MAX_SYMBOLS, 50.0, 7);
        for step in 0..200_000 {
            let trade = market.trade(step % MAX_SYMBOLS);
            assert!(trade.quote.price > 0.0 && trade.quote.price.is_finite());
            assert!(trade.size >= 1);
        }
        for quote in market.quotes() {
            assert!(
                quote.change_percent().abs() < 10.0,
                "{quote:?} wandered off"
            );
        }
    }

    #[test]
    fn bars_and_volume_follow_the_trades() {
        let mut market = Market::new(1, 1.0, 3);
        let before = market.quote(0).session_volume;
        let mut traded = 0;
        let mut high = f64::MIN;
        let mut low = f64::MAX;
        for _ in 0..100 {
            let trade = market.trade(0);
            traded += trade.size;
            high = high.max(trade.quote.price);
            low = low.min(trade.quote.price);
        }
        let bar = market.take_bar(0);
        assert_eq!(bar.volume, traded);
        assert_eq!(market.quote(0).session_volume, before + traded);
        assert!(
            bar.high >= high && bar.low <= low && bar.low <= bar.close && bar.close <= bar.high
        );
        assert_eq!(market.bar(0), Bar::starting_at(bar.close));
    }

    #[test]
    fn trade_sizes_keep_the_daily_pace() {
        // AAPL trades ~50M shares a day: one trade a second should average ~2,100 shares.
        let mut market = Market::new(1, 1.0, 11);
        let total: u64 = (0..20_000).map(|_| market.trade(0).size).sum();
        let mean = total as f64 / 20_000.0;
        assert!((1_500.0..3_500.0).contains(&mean), "mean trade {mean}");
    }

    #[test]
    fn indicators_are_in_range() {
        let mut market = Market::new(3, 10.0, 5);
        for step in 0..3_000 {
            market.trade(step % 3);
            let reading = market.indicators(step % 3);
            assert!((0.0..=100.0).contains(&reading.rsi));
            assert!(reading.bollinger_lower <= reading.bollinger_middle);
            assert!(reading.bollinger_middle <= reading.bollinger_upper);
            assert!(reading.sma5 > 0.0 && reading.ema20 > 0.0);
        }
    }
}
