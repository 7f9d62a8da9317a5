import { Text, View } from 'react-native';

export function App() {
  return (
    <View>
      <Text>Hello</Text>
    </View>
  );
}
